"""Adaptive label-smoothing regularisation of PLCA (Kang et al., NeurIPS 2020, Eq. 13).

Per pixel, u = -(1/C) sum_c log p_c is the cross-entropy between the uniform
distribution and the prediction (the LSR term of Szegedy et al., 2016). PLCA
weights it by the detached factor (u / T - 1): predictions sharper than the
target smoothness T are smoothed, smoother ones are sharpened, so u settles
around T. T = 10 corresponds to a top probability of about 0.999 with 19
classes (paper Sec. 4.2). Official form: solver/utils.py ``LSR``, applied to the
log-softmax of the logits over every pixel of source and target (solver/solver.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def adaptive_label_smoothing(logits: torch.Tensor, threshold: float = 10.0) -> torch.Tensor:
    """logits: (N, C, ...) with classes on dim 1; threshold: T of Eq. 13 (official cfg.TRAIN.LSR_THRES)."""
    if threshold <= 0.0:
        raise ValueError(
            f"label-smoothing threshold T must be positive, got {threshold}; the paper uses 10"
        )
    smoothness = -F.log_softmax(logits, dim=1).mean(dim=1)
    weight = (smoothness / threshold - 1.0).detach()
    return (weight * smoothness).mean()
