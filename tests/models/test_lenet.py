"""LeNet's evaluation pooling: the same numbers as PyTorch's plain max-pooling."""

import pytest
import torch
from torch import nn

from harness.models.lenet import LeNet, _MaxPool2d


def _with_ties(shape, seed):
    # Rounded values and a zero block: windows whose maximum several elements share.
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=g) * 4).round() / 4
    x[..., :6, :6] = 0.0
    return x


@pytest.mark.parametrize("shape", [(7, 20, 24, 24), (5, 50, 8, 8), (3, 1, 9, 11)])
def test_pooling_without_autograd_equals_plain_max_pooling(shape):
    x = _with_ties(shape, 0)
    with torch.no_grad():
        ours = _MaxPool2d(2)(x)
        plain = nn.MaxPool2d(2)(x)
    assert ours.is_contiguous()
    assert torch.equal(ours, plain)


def test_pooling_with_autograd_is_the_plain_kernel_values_and_gradients():
    x = _with_ties((4, 20, 24, 24), 1).requires_grad_()
    y = x.detach().clone().requires_grad_()
    ours, plain = _MaxPool2d(2)(x), nn.MaxPool2d(2)(y)
    weights = torch.randn(ours.shape, generator=torch.Generator().manual_seed(2))
    (ours * weights).sum().backward()
    (plain * weights).sum().backward()
    assert torch.equal(ours, plain) and torch.equal(x.grad, y.grad)


def test_lenet_evaluates_as_with_plain_pooling():
    torch.manual_seed(0)
    net = LeNet().eval()
    plain = LeNet().eval()
    plain.load_state_dict(net.state_dict())
    plain.features[1], plain.features[5] = nn.MaxPool2d(2), nn.MaxPool2d(2)
    images = torch.rand(64, 1, 28, 28)
    images[:8] = 0.0  # blank digits: every window of the first map ties at the bias
    with torch.no_grad():
        assert torch.equal(net(images), plain(images))
