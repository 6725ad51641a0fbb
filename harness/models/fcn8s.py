"""FCN-8s on VGG16 (Long, Shelhamer & Darrell, CVPR 2015), the "at-once" variant.

The FCN8s-VGG16 of CBST's tables (seed 004, ref. [21]) is Long et al.'s network. This is
its reference Caffe definition (fcn.berkeleyvision.org ``voc-fcn8s-atonce/net.py``) as
ported to PyTorch by CyCADA (the copy bundled with the Calibrator code,
``calibrator/models/fcn8s.py``) and wkentaro/pytorch-fcn (``FCN8sAtOnce``):

- conv1_1 pads by 100 and the VGG poolings round up (``ceil_mode=True``), so the crop
  offsets 5, 9 and 31 below align every map with the input;
- fc6/fc7 are VGG16's fully connected layers as 7x7 and 1x1 convolutions (§3.1);
- pool4 and pool3 are scaled by 0.01 and 0.0001 before scoring, the at-once trick;
- score layers start at zero (Caffe's default filler in net.py) and the three
  upsamplings are fixed bilinear deconvolutions (``lr_mult=0``).

The network's output is already at input resolution (``output_stride = 1``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from harness.models.base import IMAGENET_RGB, Backbone
from harness.models.pretrained import load_pretrained
from harness.models.vgg import TORCHVISION_KEY_MAP
from harness.registry import MODELS

# Indices of pool3 and pool4 in torchvision's VGG16 ``features`` (configuration "D").
POOL3, POOL4 = 16, 23
# voc-fcn8s-atonce/net.py: Scale layers before score_pool4 / score_pool3.
POOL4_SCALE, POOL3_SCALE = 0.01, 0.0001
# Crop offsets of score_pool4c, score_pool3c and score (Caffe's Crop, as in pytorch-fcn).
OFFSET_POOL4, OFFSET_POOL3, OFFSET_SCORE = 5, 9, 31
CONV1_PAD = 100


class FCN8sFeatures(NamedTuple):
    """What the FCN-8s classifier reads: fc7 and the two skip maps, plus the input size."""

    pool3: torch.Tensor
    pool4: torch.Tensor
    fc7: torch.Tensor
    size: tuple[int, int]


def bilinear_kernel(factor: int) -> torch.Tensor:
    """The (2f, 2f) bilinear interpolation kernel of fcn.berkeleyvision.org surgery.upsample_filt."""
    size = 2 * factor
    center = factor - 0.5  # (size + 1) // 2 - 0.5 for an even size
    taps = 1 - (torch.arange(size, dtype=torch.float32) - center).abs() / factor
    return taps[:, None] * taps[None, :]


def _upsample(x: torch.Tensor, kernel: torch.Tensor, factor: int) -> torch.Tensor:
    # one fixed bilinear filter per class (a diagonal deconvolution, Caffe bias_term=False)
    return F.conv_transpose2d(x, kernel, stride=factor, groups=x.shape[1])


def _crop(x: torch.Tensor, offset: int, size: tuple[int, int]) -> torch.Tensor:
    return x[:, :, offset : offset + size[0], offset : offset + size[1]]


@MODELS.register_module(name="fcn8s_vgg16")
class FCN8sVGG16(Backbone):
    """FCN-8s: ``features`` (VGG16 convs), ``fc`` (fc6/fc7 as convs) and the ``head`` scores.

    ``pretrained`` may be torchvision's VGG16 ImageNet state dict (its fc6/fc7 are
    reshaped into convolutions, fc8 is dropped) or a checkpoint of this model.
    """

    # torchvision's VGG16 ImageNet weights: RGB with the ImageNet mean/std.
    input_norm = IMAGENET_RGB
    output_stride = 1
    min_input_size = (1, 1)  # conv1_1's padding of 100 gives fc6 its 7x7 input
    in_channels = 3
    pretrained_key_map = {**TORCHVISION_KEY_MAP, "classifier.6.": None}

    def __init__(self, num_classes: int, pretrained: str | None = None):
        super().__init__()
        self.features = make_layers(cfgs["D"])
        self.features[0].padding = (CONV1_PAD, CONV1_PAD)
        for layer in self.features:
            if isinstance(layer, nn.MaxPool2d):
                layer.ceil_mode = True
        # Caffe's Dropout is element-wise (nn.Dropout), not channel-wise.
        self.fc = nn.Sequential(
            nn.Conv2d(512, 4096, 7),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Conv2d(4096, 4096, 1),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
        )
        self.head = nn.ModuleDict(
            {
                "score_fr": nn.Conv2d(4096, num_classes, 1),
                "score_pool4": nn.Conv2d(512, num_classes, 1),
                "score_pool3": nn.Conv2d(256, num_classes, 1),
            }
        )
        for param in self.head.parameters():
            nn.init.zeros_(param)
        self.register_buffer(
            "up2", bilinear_kernel(2).expand(num_classes, 1, 4, 4).clone(), persistent=False
        )
        self.register_buffer(
            "up8", bilinear_kernel(8).expand(num_classes, 1, 16, 16).clone(), persistent=False
        )
        if pretrained is not None:
            load_pretrained(
                self,
                pretrained,
                self.pretrained_key_map,
                allow_missing=("head.",),
                reshape=("fc.0.weight", "fc.3.weight"),
            )

    def forward_features(self, x: torch.Tensor) -> FCN8sFeatures:
        size = (x.shape[2], x.shape[3])
        skips = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in (POOL3, POOL4):
                skips[index] = x
        return FCN8sFeatures(skips[POOL3], skips[POOL4], self.fc(x), size)

    def classify(self, features: FCN8sFeatures) -> torch.Tensor:
        up = _upsample(self.head.score_fr(features.fc7), self.up2, 2)
        pool4 = self.head.score_pool4(POOL4_SCALE * features.pool4)
        up = _upsample(up + _crop(pool4, OFFSET_POOL4, up.shape[2:]), self.up2, 2)
        pool3 = self.head.score_pool3(POOL3_SCALE * features.pool3)
        up = _upsample(up + _crop(pool3, OFFSET_POOL3, up.shape[2:]), self.up8, 8)
        return _crop(up, OFFSET_SCORE, features.size)
