"""Checks every segmentation/classification model of ``harness.models`` must pass."""

import inspect

import pytest
import torch
import torchvision
from mmengine.optim import DefaultOptimWrapperConstructor

from harness.registry import MODELS

HEAD_LR_MULT = 10
BASE_LR = 0.01


def _assert_interface(model_cls, name, model, x):
    """The contract the method base class relies on; returns ``(logits, features)`` of ``x``."""
    assert MODELS.get(name) is model_cls
    params = inspect.signature(model_cls).parameters
    assert "num_classes" in params and params["pretrained"].default is None

    norm = model_cls.input_norm
    assert set(norm) == {"mean", "std", "to_bgr"}
    assert len(norm["mean"]) == len(norm["std"]) == 3 and all(s > 0 for s in norm["std"])
    assert hasattr(model_cls, "output_stride")

    # forward == classify(forward_features), checked with a non-trivial head
    model.eval()
    with torch.no_grad():
        torch.manual_seed(0)
        for p in model.head.parameters():
            p.normal_(0, 0.01)
        features = model.forward_features(x)
        logits = model(x)
        assert torch.equal(logits, model.classify(features))
        assert logits.abs().sum() > 0

    # mmengine's substring match on "head" must pick exactly the head (10x lr)
    names = [n for n, _ in model.named_parameters()]
    assert any(n.startswith("head.") for n in names)
    assert all(n.startswith("head.") for n in names if "head" in n)
    constructor = DefaultOptimWrapperConstructor(
        dict(type="OptimWrapper", optimizer=dict(type="SGD", lr=BASE_LR, momentum=0.9)),
        paramwise_cfg=dict(custom_keys={"head": dict(lr_mult=HEAD_LR_MULT)}),
    )
    groups = constructor(model).optimizer.param_groups
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    for n, p in model.named_parameters():
        expected = BASE_LR * (HEAD_LR_MULT if n.startswith("head.") else 1)
        assert lr_of[id(p)] == pytest.approx(expected), n
    return logits, features


@pytest.fixture
def assert_interface():
    return _assert_interface


def _random_like(shapes, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=gen) for k, s in shapes.items()}


@pytest.fixture
def random_like():
    """``random_like({key: shape})`` -> a state dict of random tensors with those shapes."""
    return _random_like


@pytest.fixture(scope="session")
def vgg16_imagenet(tmp_path_factory):
    """A torchvision VGG16 (random weights) and its state dict saved as torchvision does."""
    torch.manual_seed(0)
    reference = torchvision.models.vgg16().eval()
    path = tmp_path_factory.mktemp("vgg") / "vgg16-397923af.pth"
    torch.save(reference.state_dict(), path)
    return reference, path
