"""Fixtures of the per-model tests (the contract itself is checked in test_backbones.py)."""

import pytest
import torch
import torchvision


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
