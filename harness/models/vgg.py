"""VGG16 image classifier (Simonyan & Zisserman 2015, configuration D), torchvision's architecture.

AdapterNet (seed 003 §5.1) adapts the input of a frozen ImageNet VGG16. The modules are
torchvision's (``torchvision.models.vgg16``) regrouped so that the last linear layer is
the ``head``: ``features`` (convolutions), ``avgpool``, ``fc`` (fc6, fc7 with ReLU and
dropout) and ``head`` (fc8). torchvision's ImageNet state dict loads through
:data:`TORCHVISION_KEY_MAP`.
"""

from __future__ import annotations

import torch
from torchvision.models import vgg16

from harness.models.base import IMAGENET_RGB, Backbone
from harness.models.pretrained import load_pretrained
from harness.registry import MODELS

# torchvision VGG.classifier = [fc6, ReLU, Dropout, fc7, ReLU, Dropout, fc8].
TORCHVISION_KEY_MAP = {"classifier.0.": "fc.0.", "classifier.3.": "fc.3.", "classifier.6.": "head."}


@MODELS.register_module(name="vgg16")
class VGG16(Backbone):
    """VGG16 with 1000 ImageNet classes by default; ``pretrained`` loads the whole model."""

    # torchvision's ImageNet weights expect RGB normalised by the ImageNet mean/std
    # (torchvision VGG16_Weights.IMAGENET1K_V1 transforms).
    input_norm = IMAGENET_RGB
    # a classifier: logits have no spatial resolution
    output_stride = None
    # five 2x2 max poolings leave one pixel of a 32x32 image; avgpool then resizes to 7x7
    min_input_size = (32, 32)
    in_channels = 3
    pretrained_key_map = TORCHVISION_KEY_MAP

    def __init__(self, num_classes: int = 1000, pretrained: str | None = None):
        super().__init__()
        # torchvision builds and initialises the layers; they are only regrouped here.
        reference = vgg16(weights=None, num_classes=num_classes)
        self.features = reference.features
        self.avgpool = reference.avgpool
        self.fc = reference.classifier[:6]
        self.head = reference.classifier[6]
        if pretrained is not None:
            load_pretrained(self, pretrained, self.pretrained_key_map)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The 4096-d fc7 activations fed to the final classifier."""
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))
