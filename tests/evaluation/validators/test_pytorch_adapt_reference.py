"""Entropy, IM, BNM and SND against pytorch-adapt's validators on the same inputs.

pytorch-adapt 0.0.83 pins torchmetrics==0.9.3, which conflicts with this
project's torchmetrics, so it is not a test dependency. To run these:
``pip install --no-deps pytorch-adapt==0.0.83 pytorch-metric-learning==1.6.3 tqdm``.
"""

import pytest
import torch

from harness.evaluation.validators import build_validator

validators = pytest.importorskip(
    "pytorch_adapt.validators", reason="pytorch-adapt is not installed (it conflicts with "
    "torchmetrics>=1.4; see this file's docstring to install it without its pins)")


def _inputs():
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(300, 7, generator=g, dtype=torch.float64)
    return logits, logits.softmax(1)


@pytest.mark.parametrize("name,kwargs,reference,sign", [
    # pytorch-adapt reports every score as higher-is-better: it negates the entropy.
    ("entropy", {}, lambda: validators.EntropyValidator(), -1),
    ("im", {}, lambda: validators.IMValidator(), 1),
    ("bnm", {}, lambda: validators.BNMValidator(), 1),  # softmax of the logits; norm / N
    ("snd", {}, lambda: validators.SNDValidator(), 1),  # layer="preds": the probabilities
    ("snd", {"space": "features"}, lambda: validators.SNDValidator(layer="features"), 1),
])
def test_matches_pytorch_adapt(name, kwargs, reference, sign):
    logits, probs = _inputs()
    validator = build_validator(name, **kwargs)
    validator.update({"target_probs": probs, "target_features": logits})
    data = {"logits": logits, "preds": probs, "features": logits}
    assert validator.score() == pytest.approx(sign * reference()(target_train=data), rel=1e-9)
