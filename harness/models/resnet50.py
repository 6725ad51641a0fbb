"""ResNet-50 image classifier (He et al., CVPR 2016), torchvision's architecture.

The Office-31 backbone of CDAN, TLlib and 3C-GAN (their tables' "ResNet-50",
ImageNet-pretrained). The modules are torchvision's ``resnet50`` regrouped so that
the final linear layer is the ``head``; torchvision's ImageNet state dict
(``resnet50-*.pth``, passed with ``--set model.init=PATH``) loads with its 1000-way
``fc`` dropped and the ``num_classes``-way head left at its initialisation. Every
other key must match: a file of another network is an error naming the missing and
unexpected keys.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import resnet50

from harness.models.base import IMAGENET_RGB, Backbone
from harness.models.pretrained import load_pretrained
from harness.registry import MODELS


@MODELS.register_module(name="resnet50")
class ResNet50(Backbone):
    """Convolutional stages and global average pooling (2048-d), then a linear head."""

    # torchvision's ImageNet weights: RGB, ImageNet mean/std (ResNet50_Weights transforms).
    input_norm = IMAGENET_RGB
    output_stride = None  # a classifier
    # five stride-2 stages leave one pixel of a 32x32 image; the pooling is adaptive
    min_input_size = (32, 32)
    in_channels = 3

    def __init__(self, num_classes: int = 1000, pretrained: str | None = None):
        super().__init__()
        # torchvision builds and initialises the layers; they are only regrouped here.
        reference = resnet50(weights=None, num_classes=num_classes)
        self.stem = nn.Sequential(reference.conv1, reference.bn1, reference.relu,
                                  reference.maxpool)
        self.layer1, self.layer2 = reference.layer1, reference.layer2
        self.layer3, self.layer4 = reference.layer3, reference.layer4
        self.avgpool = reference.avgpool
        self.head = reference.fc
        if pretrained is not None:
            load_pretrained(self, pretrained, self.key_map, allow_missing=("head.",))

    @staticmethod
    def key_map(key: str) -> str | None:
        """torchvision names -> ours: the stem regrouped, ``fc`` dropped."""
        if key.startswith("fc."):
            return None
        stem = {"conv1.": "stem.0.", "bn1.": "stem.1."}
        for old, new in stem.items():
            if key.startswith(old):
                return new + key[len(old):]
        return key

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return torch.flatten(self.avgpool(x), 1)
