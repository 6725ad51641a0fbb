"""SUIT: its losses on tiny tensors, which part learns from which loss, Avg.W, the transplant."""

import copy
import hashlib
import math
from collections import namedtuple

import cv2
import numpy as np
import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from scipy import ndimage

from harness.checkpoints import save_final
from harness.method import HParamsError, build_hparams
from harness.pictures import picture_file
from harness.plan import make_plan
from harness.registry import MODELS
from harness.run import train_and_record
from methods._nets.image_gan import gan_loss
from methods.suit import SUIT, SUITAveragedWeights, content_loss, edge_maps

LENET = {"type": "lenet", "num_classes": 10, "in_channels": 1}
SMALL = {"width": 4, "blocks": 1, "disc_width": 8}


def build(cls=SUIT, net_lr=1.0, backbone=LENET, **hparams):
    with DefaultScope.overwrite_default_scope("harness"):
        MODELS.import_from_location()
        model = cls(backbone=dict(backbone), hparams={**SMALL, **hparams})
        base = {"type": "OptimWrapper", "optimizer": {"type": "SGD", "lr": net_lr}}
        wrapper = build_optim_wrapper(model, cls.optim_wrapper_cfg(base, model.hp))
    return model, wrapper


def batch(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"source": {"inputs": torch.rand(n, 1, 28, 28, generator=g),
                       "label": torch.randint(0, 10, (n,), generator=g)},
            "target": {"inputs": torch.rand(n, 1, 28, 28, generator=g)}}


def test_gan_loss_is_the_binary_cross_entropy_of_the_paper():
    # D(x) = sigmoid(logit): -log D for "real", -log(1 - D) for "fake".
    logits = torch.tensor([[0.0, 2.0]])
    assert gan_loss(logits, True).item() == pytest.approx(
        (math.log(2) + math.log(1 + math.exp(-2))) / 2)
    assert gan_loss(logits, False).item() == pytest.approx(
        (math.log(2) + math.log(1 + math.exp(2))) / 2)


def test_edge_maps_are_sobel_magnitudes_and_blind_to_inversion():
    x = torch.rand(2, 3, 9, 11, generator=torch.Generator().manual_seed(0))
    ours = edge_maps(x)
    sobel = [[np.hypot(ndimage.sobel(img, axis=1, mode="nearest"),
                       ndimage.sobel(img, axis=0, mode="nearest")) / 8 for img in image]
             for image in x.numpy()]
    assert np.allclose(ours.numpy(), np.stack(sobel), atol=1e-3)
    assert torch.allclose(edge_maps(1.0 - x), ours, atol=1e-6)


def test_content_loss_sums_the_squared_distance_of_every_feature_map():
    feats = namedtuple("Feats", "pool3 fc7 size")  # FCN8s returns its maps and a size
    a = feats(torch.ones(1, 2, 2, 2), torch.zeros(1, 3), (8, 8))
    b = feats(torch.zeros(1, 2, 2, 2), torch.full((1, 3), 2.0), (8, 8))
    assert content_loss(a, b).item() == pytest.approx(1.0 + 4.0)
    assert content_loss(torch.ones(2, 5), torch.ones(2, 5)).item() == 0.0


def test_each_part_learns_from_its_own_terms_only():
    torch.manual_seed(0)
    model, wrapper = build()
    model.eval()  # no dropout: the reference gradients see the same forward pass
    data = batch()
    reference = copy.deepcopy(model)
    losses, _ = reference.losses_and_translation(data["source"])
    net_params = list(reference.net.parameters())
    task = losses["loss_task_source"] + losses["loss_task_translated"]
    net_grads = torch.autograd.grad(task, net_params, retain_graph=True)
    g_loss = losses["loss_g_adv"] + losses["loss_g_sem"] + losses["loss_g_content"]
    gen_grads = torch.autograd.grad(g_loss, list(reference.generator.parameters()))
    net_before = [p.detach().clone() for p in model.net.parameters()]
    gen_before = [p.detach().clone() for p in model.generator.parameters()]
    model.train_step(data, wrapper)
    # Seg: plain SGD with lr 1 moved it by exactly -dL_task/dSeg (no generator terms).
    for before, after, grad in zip(net_before, model.net.parameters(), net_grads, strict=True):
        assert torch.allclose(after, before - grad, atol=1e-6)
    # G: Adam's first step moves each weight against the sign of dL_G/dG (no task terms).
    for before, after, grad in zip(gen_before, model.generator.parameters(), gen_grads,
                                   strict=True):
        clear = grad.abs() > 1e-6
        assert torch.equal(torch.sign(after - before)[clear], -torch.sign(grad)[clear])


def test_averaged_weights_are_the_moving_average_of_seg_and_predict_with_it():
    torch.manual_seed(0)
    model, wrapper = build(SUITAveragedWeights, net_lr=0.1, average_decay=0.5)
    assert SUITAveragedWeights.HParams().average_decay == 0.999
    model.train()
    expected = None
    for step in range(3):
        model.train_step(batch(seed=step), wrapper)
        weights = [p.detach().clone() for p in model.net.parameters()]
        expected = weights if expected is None else [
            0.5 * e + 0.5 * w for e, w in zip(expected, weights, strict=True)]
    for e, a in zip(expected, model.seg_average.module.parameters(), strict=True):
        assert torch.allclose(e, a, atol=1e-6)
    model.eval()
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(model.predict(x), model.seg_average.module(model.normalize(x)))
    assert not torch.equal(model.predict(x), model.net(model.normalize(x)))


@pytest.mark.parametrize("bad", [{"content": "vgg"}, {"average_decay": 1.5}, {"width": 0},
                                 {"generator": "no/such/model_final.pth"}])
def test_bad_hyper_parameters_are_named(bad):
    with pytest.raises(HParamsError, match=next(iter(bad))):
        build_hparams(SUIT.HParams, bad, "suit")


def test_transplant_loads_a_frozen_generator_and_the_record_names_its_run(tmp_path, tiny_sets,
                                                                          one_thread):
    # A generator trained beside another task network (DTN), saved as a suit run saves
    # its final weights (run.py puts the run's id in the meta).
    torch.manual_seed(1)
    donor, _ = build(backbone={"type": "dtn", "num_classes": 10, "in_channels": 1})
    with torch.no_grad():  # weights no fresh generator has
        for p in donor.generator.parameters():
            p.add_(0.05 * torch.randn_like(p))
    weights = save_final(donor, tmp_path / "donor" / "model_final.pth",
                         {"run_id": "0123456789abcdef", "method": "suit", "backbone": "dtn"})
    sets = [*tiny_sets, *(f"method.{k}={v}" for k, v in SMALL.items()), "train.batch=16",
            "train.iters=4", "eval.points=1", "selection.validators=[]",
            f"method.generator='{weights}'"]
    plan = make_plan("digits_mnist_optdigits", "suit", "lenet", 0, sets,
                     work_dir=tmp_path / "run", results_dir=tmp_path / "records", quiet=True)
    record, path = train_and_record(plan)
    source = record.method.loaded_weights["generator"]
    assert (source.run_id, source.method, source.backbone) == ("0123456789abcdef", "suit", "dtn")
    assert source.sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()
    # G came out of the run exactly as it went in; the task network (LeNet) trained.
    final = torch.load(tmp_path / "run" / "model_final.pth", weights_only=True)["state_dict"]
    for key, value in donor.generator.state_dict().items():
        assert torch.equal(final[f"generator.{key}"], value), key
    fresh, _ = build()
    assert not torch.equal(final["net.head.weight"], fresh.net.head.weight)
    # The harness wrote the picture beside the record, and the record lists it.
    picture = cv2.imread(str(picture_file(path, "translations")))
    assert picture.shape == (2 * 30 + 2, 8 * 30 + 2, 3)  # sources above translations
    assert set(record.pictures) == {"translations"}


def test_a_frozen_generator_gets_no_optimizer_and_only_seg_learns(tmp_path):
    donor, _ = build()
    weights = save_final(donor, tmp_path / "model_final.pth", {"run_id": "r", "method": "suit"})
    assert SUIT.weights_from(SUIT.HParams()) == {}
    model, wrapper = build(generator=str(weights))
    assert SUIT.weights_from(model.hp) == {"generator": str(weights)}
    assert set(wrapper.keys()) == {"net"}
    model.train()
    assert not model.generator.training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    log = model.train_step(batch(), wrapper)
    assert set(log) == {"loss", "loss_task_source", "loss_task_translated"}
    changed = {k.split(".")[0] for k, v in model.state_dict().items()
               if not torch.equal(v, before[k])}
    assert changed == {"net"}
