"""DRN-C-26 (Yu, Koltun & Funkhouser, CVPR 2017) with the segmentation head of the Calibrator code.

The backbone follows fyu/drn ``drn.py`` (``DRN``, ``drn_c_26``) with the same module
names, so fyu/drn's ImageNet file ``drn26-ddedf421.pth`` loads as it is. The head is
the one the Calibrator code uses (yeshaokai/Calibrator-Domain-Adaptation
``cycada/models/drn.py``, ``drn26(out_map=True)``): a 1x1 conv ``fc`` from the 512
final channels to the classes, followed by a parameter-free bilinear upsampling to the
input size (``align_corners=True`` there; here the caller upsamples). That makes
20,613,584 backbone + 9,747 head parameters for 19 classes = 20.62M, the 20.6M of the
Calibrator paper (Table 3). fyu/drn's ``DRNSeg`` (``segment.py``) would add a fixed
bilinear ``ConvTranspose2d`` (19*16*16 = 4,864 more, 20.63M): it rounds the same.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models.base import IMAGENET_RGB, Backbone
from harness.models.pretrained import load_pretrained
from harness.registry import MODELS

# fyu/drn drn.py DRN defaults and drn_c_26: channels per stage and blocks per stage.
DRN_CHANNELS = (16, 32, 64, 128, 256, 512, 512, 512)
DRN_C26_BLOCKS = (1, 1, 2, 2, 2, 2, 1, 1)
# (stride, dilation, residual) of stages 1..8 (fyu/drn DRN.__init__, arch 'C').
DRN_C_STAGES = (
    (1, 1, True),
    (2, 1, True),
    (2, 1, True),
    (2, 1, True),
    (1, 2, True),
    (1, 4, True),
    (1, 2, False),
    (1, 1, False),
)
# The Calibrator's source classifier is CyCADA's released GTA5 DRN-26 (Calibrator
# paper §4.2), whose 19-way classifier is named "fc": load it whole with
# load_pretrained(model, path, CYCADA_KEY_MAP).
CYCADA_KEY_MAP = {"fc.": "head."}


class DRNBlock(nn.Module):
    """fyu/drn ``BasicBlock``: two 3x3 convs, per-conv dilation, optional residual."""

    def __init__(self, inplanes, planes, stride=1, dilation=(1, 1), residual=True):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, dilation[0], dilation[0], bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, dilation[1], dilation[1], bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


def _stage(inplanes, planes, blocks, stride, dilation, residual) -> nn.Sequential:
    # fyu/drn DRN._make_layer with new_level=False for every dilated stage of DRN-C:
    # all blocks of a dilated stage use the full dilation.
    layers = [DRNBlock(inplanes, planes, stride, (dilation, dilation), residual)]
    layers += [
        DRNBlock(planes, planes, 1, (dilation, dilation), residual) for _ in range(1, blocks)
    ]
    return nn.Sequential(*layers)


@MODELS.register_module(name="drn_c26")
class DRNC26(Backbone):
    """DRN-C-26 backbone (fyu/drn key names) and a 1x1 conv ``head``; output stride 8."""

    # fyu/drn trains on ImageNet with torchvision's mean/std (classify.py), the
    # Calibrator/CyCADA DRN too (cycada/models/drn.py DRN.transform).
    input_norm = IMAGENET_RGB
    output_stride = 8
    min_input_size = (1, 1)  # every convolution is padded
    in_channels = 3
    # fyu/drn's "fc" is the 1000-way ImageNet classifier.
    pretrained_key_map = {"fc.": None}

    def __init__(self, num_classes: int, pretrained: str | None = None):
        super().__init__()
        c, n = DRN_CHANNELS, DRN_C26_BLOCKS
        self.conv1 = nn.Conv2d(self.in_channels, c[0], 7, 1, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(c[0])
        self.relu = nn.ReLU(inplace=True)
        inplanes = c[0]
        for i, (planes, blocks, (stride, dilation, residual)) in enumerate(
            zip(c, n, DRN_C_STAGES), start=1
        ):
            setattr(self, f"layer{i}", _stage(inplanes, planes, blocks, stride, dilation, residual))
            inplanes = planes
        self.head = nn.Conv2d(c[-1], num_classes, 1)
        # fyu/drn init: conv weights N(0, 2/(k*k*out)), BN 1/0; head bias 0 (segment.py DRNSeg).
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.head.bias)
        if pretrained is not None:
            load_pretrained(self, pretrained, self.pretrained_key_map, allow_missing=("head.",))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        for i in range(1, len(DRN_CHANNELS) + 1):
            x = getattr(self, f"layer{i}")(x)
        return x
