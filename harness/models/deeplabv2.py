"""DeepLab-v2 on ResNet-101 (Chen et al., TPAMI 2017), as in the official PLCA code.

Follows kgl-prml/Pixel-Level-Cycle-Association (``model/resnet.py``,
``model/segmentation/{segmentation,deeplabv2}.py``), which matches the Caffe DeepLab-v2
that the DeepLab init file was trained with:

- the stride of a bottleneck sits on its first 1x1 conv (PLCA ``Bottleneck``, the lines
  marked ``# change``; AdaptSegNet ``model/deeplab.py`` does the same), not on the 3x3
  conv as in torchvision;
- max pooling uses ``ceil_mode=True`` (PLCA ``ResNet.__init__``, ``# change``);
- layer3/layer4 keep stride 1 with dilation 2/4 (``replace_stride_with_dilation=[False,
  True, True]``), and the first block of a dilated stage already uses the new dilation
  (PLCA ``_make_layer``, ``# change``), so the output stride is 8;
- the classifier is the v2 ASPP: four 3x3 convs with dilations 6/12/18/24 whose outputs
  are summed, without bias (PLCA ``deeplabv2.ASPPConv``; AdaptSegNet's
  ``Classifier_Module`` adds a bias and, by an early ``return``, sums only two branches).

BatchNorm is trained (PLCA ``TRAIN.FREEZE_BN = False``); AdaptSegNet freezes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet

from harness.models.base import Backbone, InputNorm
from harness.models.pretrained import load_pretrained
from harness.registry import MODELS

# ASPP dilations of DeepLab-v2 (Chen et al. 2017 §3.1 "ASPP-L"; PLCA DeepLabHead).
ASPP_RATES = (6, 12, 18, 24)
RESNET101_BLOCKS = (3, 4, 23, 3)


class CaffeBottleneck(Bottleneck):
    """torchvision's bottleneck with the stride moved to the first 1x1 conv."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, *args, **kwargs) -> None:
        super().__init__(inplanes, planes, 1, *args, **kwargs)
        self.conv1.stride = (stride, stride)
        self.stride = stride


class ASPPv2(nn.Module):
    """Sum of parallel dilated 3x3 convolutions straight to class scores."""

    def __init__(
        self, in_channels: int, num_classes: int, rates: Sequence[int] = ASPP_RATES
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Conv2d(in_channels, num_classes, 3, padding=rate, dilation=rate, bias=False)
            for rate in rates
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(branch(x) for branch in self.branches)


@MODELS.register_module(name="deeplabv2_r101")
class DeepLabV2ResNet101(Backbone, ResNet):
    """DeepLab-v2, ResNet-101 backbone (keys as torchvision's ResNet) and ``head`` ASPP.

    ``pretrained`` may be a torchvision ResNet-101 state dict, the DeepLab init file
    ``DeepLab_resnet_pretrained_init-f81d91e8.pth`` (keys ``Scale.conv1.weight``...),
    or a checkpoint of this model; a foreign classifier is dropped and the head keeps
    its initialisation.
    """

    # PLCA trains on BGR images in 0..255 minus the Caffe ImageNet mean, std 1
    # (tools/train.py get_transform, config.py DATASET.IMG_MODE = 'BGR'); mean in BGR order.
    input_norm = InputNorm(
        mean=(104.00698793, 116.66876762, 122.67891434), std=(1.0, 1.0, 1.0), to_bgr=True
    )
    output_stride = 8
    min_input_size = (1, 1)  # every convolution and pooling is padded
    in_channels = 3
    # torchvision's fc and the init file's 21-class "layer5" are other label spaces;
    # "Scale." is the init file's prefix (PLCA utils/utils.py load_model strips it).
    pretrained_key_map = {"fc.": None, "Scale.layer5.": None, "Scale.": ""}

    def __init__(self, num_classes: int, pretrained: str | None = None):
        super().__init__(
            CaffeBottleneck,
            list(RESNET101_BLOCKS),
            replace_stride_with_dilation=[False, True, True],
        )
        del self.avgpool, self.fc
        self.maxpool.ceil_mode = True
        # torchvision gives the first block of a dilated stage the previous dilation.
        for stage in (self.layer3, self.layer4):
            first, second = stage[0].conv2, stage[1].conv2
            first.dilation, first.padding = second.dilation, second.padding
        # built after ResNet's init loop: PyTorch's default init, as PLCA's classifier
        self.head = ASPPv2(512 * CaffeBottleneck.expansion, num_classes)
        if pretrained is not None:
            load_pretrained(self, pretrained, self.pretrained_key_map, allow_missing=("head.",))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))
