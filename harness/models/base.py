"""The backbone contract: what every model registered in ``MODELS`` declares and provides.

Methods (``harness/method.py``) and the optimizer config rely on exactly this, never
on probing a model for attributes:

- ``input_norm`` (:class:`InputNorm`): how images in 0-255 pixel units become the
  network's input, ``(x[, ::-1 if to_bgr] - mean) / std``; ``mean``/``std`` hold one
  value per channel (after the optional RGB->BGR swap) or one value for all channels.
- ``output_stride``: input side / logit side of a dense (segmentation) network; an
  input side of ``k * output_stride + 1`` gives ``k + 1`` logits per side whatever the
  padding and pooling conventions (why DeepLab crops are 321 or 513). ``None`` for an
  image classifier, whose logits are ``[B, num_classes]``.
- ``min_input_size``: the smallest ``(height, width)`` the network is built to take;
  digit classifiers, whose fully connected layer fixes the flattened map, take only it.
- ``in_channels``: channels of the input (a class constant, or a constructor argument).
- ``head``: the submodule that maps features to class scores. The optimizer config's
  paramwise key ``net.head`` (mmengine matches it as a substring of parameter names; a
  method holds its backbone as ``net``) gives it, and only it, the protocol's
  ``head_lr_mult``; no other parameter may have ``head`` right after a ``net.``.
- ``forward_features(x)`` -> features; ``classify(features)`` -> logits, and
  ``forward(x) == classify(forward_features(x))``. Feature-level methods (PLCA) work
  between the two.
- The constructor takes ``num_classes`` and ``pretrained: str | None = None`` (a local
  weight file, see :mod:`harness.models.pretrained`).

``tests/models/test_backbones.py`` checks every registered backbone against this.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, TypedDict

import torch
from torch import nn


class InputNorm(TypedDict):
    """Normalisation of 0-255 pixel values (mmseg's convention) the weights expect."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    to_bgr: bool


#: ImageNet mean/std of torchvision's (and fyu/drn's) training, RGB, in 0-255 units.
IMAGENET_RGB = InputNorm(
    mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375), to_bgr=False
)


class Backbone(nn.Module, abc.ABC):
    """Base class of every registered backbone; see the module docstring for the contract.

    Subclasses declare every class attribute below (the base gives no defaults, so a
    missing one fails the contract test rather than inheriting a wrong value).
    """

    input_norm: ClassVar[InputNorm]
    output_stride: ClassVar[int | None]
    min_input_size: ClassVar[tuple[int, int]]
    in_channels: int
    head: nn.Module

    @abc.abstractmethod
    def forward_features(self, x: torch.Tensor) -> Any:
        """Normalised images -> whatever :meth:`classify` reads (a tensor for most)."""

    def classify(self, features: Any) -> torch.Tensor:
        """Features -> logits; a head that needs more than one input overrides this."""
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.forward_features(x))
