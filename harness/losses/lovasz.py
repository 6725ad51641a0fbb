"""Lovasz-softmax loss (Berman, Rannen Triki and Blaschko, CVPR 2018).

For each class c present in the labels, the Jaccard loss 1 - IoU_c is replaced
by its Lovasz extension evaluated at the per-pixel errors |1[y = c] - p_c|
(Alg. 1 of the paper); the loss is the mean over the present classes. All valid
pixels of the batch are pooled, as PLCA calls it (official solver/solver.py:
``lovasz_softmax(..., classes='present', per_image=False, ignore=255)``).
"""

from __future__ import annotations

import torch


def lovasz_jaccard_grad(fg_sorted: torch.Tensor) -> torch.Tensor:
    """Increments of the Jaccard loss along pixels sorted by decreasing error.

    fg_sorted holds float 0/1 foreground indicators in that order. Entry k is Delta({pi_1..pi_k}) - Delta({pi_1..pi_{k-1}}) with
    Delta(M) = |M| / |fg U M| (Berman et al., Eq. 7 and Alg. 1).
    """
    positives = fg_sorted.sum()
    intersection = positives - fg_sorted.cumsum(0)
    union = positives + (1.0 - fg_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    return torch.cat([jaccard[:1], jaccard.diff()])


def lovasz_softmax(
    probs: torch.Tensor, labels: torch.Tensor, ignore_index: int = 255
) -> torch.Tensor:
    """probs: (N, C, H, W) softmax probabilities; labels: (N, H, W) class ids or ``ignore_index``."""
    if probs.dim() != 4 or labels.shape != (probs.shape[0], *probs.shape[2:]):
        raise ValueError(
            f"lovasz_softmax expects probs (N, C, H, W) and labels (N, H, W), got "
            f"{tuple(probs.shape)} and {tuple(labels.shape)}"
        )
    num_classes = probs.shape[1]
    flat_probs = probs.movedim(1, -1).reshape(-1, num_classes)
    flat_labels = labels.reshape(-1)
    valid = flat_labels != ignore_index
    flat_probs, flat_labels = flat_probs[valid], flat_labels[valid]
    if flat_labels.numel() == 0:
        # Only ignored pixels: a zero with zero gradient.
        return probs.sum() * 0.0
    present = flat_labels.unique()
    if present.min() < 0 or present.max() >= num_classes:
        raise ValueError(
            f"labels hold class ids {present.tolist()} but probs have {num_classes} classes; "
            f"map unlabelled pixels to ignore_index={ignore_index}"
        )
    losses = []
    # One class at a time keeps memory at one sort of the valid pixels.
    for c in present.tolist():
        fg = (flat_labels == c).to(flat_probs.dtype)
        errors_sorted, order = (fg - flat_probs[:, c]).abs().sort(descending=True)
        losses.append(errors_sorted @ lovasz_jaccard_grad(fg[order]))
    return torch.stack(losses).mean()
