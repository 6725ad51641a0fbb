"""3C-GAN's loss terms against hand-computed values, its optimizers and its picture
(entropy and VAT: tests/losses/test_clustering.py)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from methods.three_c_gan import PICTURE_SAMPLES, weight_distance


def test_weight_distance_is_the_l2_norm_of_the_change_and_has_a_finite_gradient_at_zero():
    net = nn.Linear(3, 2)  # 8 parameters
    source = torch.nn.utils.parameters_to_vector(net.parameters()).detach().clone()
    at_source = weight_distance(net.parameters(), source)
    at_source.backward()
    assert at_source.item() == 0.0
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.5)
    assert weight_distance(net.parameters(), source).item() == pytest.approx(0.5 * math.sqrt(8))


@pytest.fixture
def model_and_wrapper(build_method):
    return build_method("digits_mnist_optdigits", "three_c_gan")


def test_classifier_keeps_the_protocol_optimizer_and_gan_gets_adam(model_and_wrapper):
    model, wrapper = model_and_wrapper
    assert set(wrapper.keys()) == {"net", "generator", "discriminator"}
    net_opt = wrapper["net"].optimizer
    # digits_mnist_optdigits: Adam 1e-3 with head_lr_mult 1
    assert type(net_opt).__name__ == "Adam" and net_opt.param_groups[0]["lr"] == 1e-3
    for name in ("generator", "discriminator"):
        group = wrapper[name].optimizer.param_groups[0]
        assert group["lr"] == 2e-4 and group["betas"] == (0.5, 0.999)
    owned = {id(p) for g in net_opt.param_groups for p in g["params"]}
    assert owned == {id(p) for p in model.net.parameters()}


def test_one_step_trains_all_three_players_and_keeps_the_source_weights(model_and_wrapper):
    model, wrapper = model_and_wrapper
    torch.manual_seed(0)
    target = {"inputs": torch.rand(8, 1, 28, 28)}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    logs = model.train_step({"target": target}, wrapper)
    assert {"loss_d", "loss_g", "loss_c", "loss_w_reg", "loss_vat", "loss_entropy"} <= set(logs)
    for part in ("net.", "generator.", "discriminator."):
        assert any(not torch.equal(v, before[k]) for k, v in model.state_dict().items()
                   if k.startswith(part) and v.is_floating_point()), part
    assert torch.equal(model.source_weights, before["source_weights"])
    # the classifier moved away from the source weights, and l_wReg measures exactly that
    moved = torch.nn.utils.parameters_to_vector(model.net.parameters()) - model.source_weights
    assert model.loss(None, target)["loss_w_reg"].item() == pytest.approx(
        0.1 * moved.norm().item(), rel=1e-5)


def test_picture_has_one_row_per_class_and_leaves_the_random_streams_alone(model_and_wrapper):
    model, _ = model_and_wrapper
    state = torch.get_rng_state()
    first = model.pictures()["samples"]
    assert torch.equal(torch.get_rng_state(), state)
    assert np.array_equal(first, model.pictures()["samples"])
    side, pad = 28, 2
    assert first.dtype == np.uint8 and first.shape == (
        pad + 10 * (side + pad), pad + PICTURE_SAMPLES * (side + pad), 3)
