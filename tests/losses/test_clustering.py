"""Entropy and VAT (3C-GAN's l_cluReg, Label2Image-DA's L_reg) against hand-computed values."""

import math

import pytest
import torch
from torch import nn

from harness.losses.clustering import entropy, kl_from, vat_loss


def test_entropy_is_the_mean_prediction_entropy():
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])  # p = (1/2, 1/2), (3/4, 1/4)
    by_hand = (math.log(2) - (0.75 * math.log(0.75) + 0.25 * math.log(0.25))) / 2
    assert entropy(logits).item() == pytest.approx(by_hand, rel=1e-6)


def test_kl_from_probabilities_to_logits():
    p = torch.tensor([[0.5, 0.5]])
    logits = torch.tensor([[math.log(3.0), 0.0]])  # q = (3/4, 1/4)
    by_hand = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    assert kl_from(p, logits).item() == pytest.approx(by_hand, rel=1e-6)


def test_vat_finds_the_one_sensitive_direction_at_full_radius():
    # logits = (a * x1, 0): only x1 moves the prediction, so the adversarial direction
    # is +-e1 whatever the random start; at x = 0, p = (1/2, 1/2) and
    # KL(p || softmax(+-a eps, 0)) is the same for both signs.
    a, eps = 2.0, 0.7
    linear = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[a, 0.0], [0.0, 0.0]]))
    x = torch.zeros(3, 2)
    q = torch.softmax(torch.tensor([a * eps, 0.0]), 0)
    by_hand = 0.5 * math.log(0.5 / q[0].item()) + 0.5 * math.log(0.5 / q[1].item())
    torch.manual_seed(0)
    assert vat_loss(linear, x, eps=eps, xi=1e-6).item() == pytest.approx(by_hand, rel=1e-4)
    # and a random direction of the same radius is weaker on average
    d = torch.randn(1000, 2)
    random = kl_from(torch.full((1000, 2), 0.5), linear(eps * d / d.norm(dim=1, keepdim=True)))
    assert random.item() < by_hand


def test_dense_logits_are_averaged_over_pixels():
    # Label2Image's L_reg on segmentation: one prediction per pixel.
    assert entropy(torch.zeros(2, 4, 5, 5)).item() == pytest.approx(math.log(4))
    p = torch.full((1, 2, 3, 3), 0.5)
    logits = torch.zeros(1, 2, 3, 3)
    logits[:, 0] = math.log(3.0)  # q = (3/4, 1/4) at every pixel
    by_hand = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    assert kl_from(p, logits).item() == pytest.approx(by_hand, rel=1e-6)
