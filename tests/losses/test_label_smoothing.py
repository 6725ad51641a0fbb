"""Adaptive label smoothing (PLCA Eq. 13) against its formula and its analytic gradient."""

import math

import pytest
import torch

from harness.losses.label_smoothing import adaptive_label_smoothing


def uniform_cross_entropy(logits):
    """u = -(1/C) sum_c log p_c per pixel, from p = exp(z) / sum exp(z)."""
    p = logits.exp() / logits.exp().sum(1, keepdim=True)
    return -p.log().mean(1)


@pytest.mark.parametrize("threshold", [10.0, 2.0])
def test_value_and_gradient_match_formula(threshold):
    g = torch.Generator().manual_seed(0)
    logits = (6 * torch.randn(2, 5, 3, 3, generator=g, dtype=torch.float64)).requires_grad_()
    loss = adaptive_label_smoothing(logits, threshold)
    u = uniform_cross_entropy(logits.detach())
    torch.testing.assert_close(loss, ((u / threshold - 1) * u).mean(), rtol=0, atol=1e-10)
    # The weight (u / T - 1) is a constant, and du/dz_k = p_k - 1/C.
    p = logits.detach().softmax(1)
    expected = ((u / threshold - 1)[:, None] * (p - 1 / 5)) / u.numel()
    (grad,) = torch.autograd.grad(loss, logits)
    torch.testing.assert_close(grad, expected, rtol=0, atol=1e-10)


def test_fixed_point_sits_near_top_probability_0999():
    # Logits (a, 0, ..., 0) over 19 classes: u = log(e^a + 18) - a / 19; solve u = T = 10.
    low, high = 0.0, 50.0
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if math.log(math.exp(mid) + 18) - mid / 19 < 10 else (low, mid)
    logits = torch.zeros(1, 19, dtype=torch.float64)
    logits[0, 0] = low
    logits.requires_grad_()
    (grad,) = torch.autograd.grad(adaptive_label_smoothing(logits, 10.0), logits)
    assert grad.abs().max() < 1e-9
    assert 0.999 < logits.detach().softmax(1)[0, 0] < 1.0  # paper Sec. 4.2


def test_non_positive_threshold_raises():
    with pytest.raises(ValueError, match="paper uses 10"):
        adaptive_label_smoothing(torch.zeros(1, 3), 0.0)
