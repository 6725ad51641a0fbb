"""CyCADA's digit classifiers (Hoffman et al. 2018, cycada/models/task_net.py): LeNet and DTN.

The Calibrator paper (seed 000, section 4) uses "the same LeNet architecture as
CyCADA": two 5x5 convolutions (20, 50 channels) with max-pooling, a 500-unit
fully connected layer, dropout 0.5, and the classifier. Input 1x28x28.
"""

import torch
from torch import nn

from harness.models.base import Backbone, InputNorm
from harness.registry import MODELS


class _MaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` whose CPU forward without autograd pools a channels-last copy.

    PyTorch's channels-first CPU max-pooling is not vectorised: 23 ms against 8 ms for a
    500-digit evaluation batch after the first convolution, copies included. The maxima are
    the same numbers. Training keeps the plain kernel: there the copies and the backward
    pass cost what the forward saves (README, performance).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_cpu and not torch.is_grad_enabled():
            return super().forward(x.contiguous(memory_format=torch.channels_last)).contiguous()
        return super().forward(x)


class _DigitClassifier(Backbone):
    """``features`` (convolutions and the penultimate fully connected layer), then a linear
    ``head``, as CyCADA's ``conv_params``/``fc_params`` and ``classifier``."""

    # CyCADA zero-centres digits: (x - 0.5) / 0.5 on [0, 1], here in 0-255 pixel units.
    input_norm = InputNorm(mean=(127.5,), std=(127.5,), to_bgr=False)
    output_stride = None  # a classifier: one prediction per image

    def load(self, pretrained: str | None) -> None:
        if pretrained:
            from harness.models.pretrained import load_pretrained

            load_pretrained(self, pretrained)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


@MODELS.register_module(name="lenet")
class LeNet(_DigitClassifier):
    """CyCADA's ``LeNet``: its 50 x 4 x 4 fully connected input fixes the image at 28 x 28."""

    min_input_size = (28, 28)

    def __init__(self, num_classes: int = 10, in_channels: int = 1, pretrained: str | None = None):
        super().__init__()
        self.in_channels = in_channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 20, kernel_size=5),
            _MaxPool2d(2),
            nn.ReLU(),
            nn.Conv2d(20, 50, kernel_size=5),
            nn.Dropout2d(p=0.5),
            _MaxPool2d(2),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(50 * 4 * 4, 500),
            nn.ReLU(),
            nn.Dropout(p=0.5),
        )
        self.head = nn.Linear(500, num_classes)
        self.load(pretrained)


@MODELS.register_module(name="dtn")
class DTN(_DigitClassifier):
    """CyCADA's ``DTNClassifier`` (cycada/models/task_net.py), input 3x32x32.

    The Calibrator's official digits configs train this network as the source
    classifier for all three tasks (configs/digits/*.yml: ``SRC_NET.ARCH: "DTN"``),
    and it is the one with the 3.13M parameters of the paper's Table 3 (seed
    000); the 28x28 LeNet above has 0.43M.
    """

    # CyCADA's image_size: three stride-2 convolutions to the 256 x 4 x 4 fully connected input.
    min_input_size = (32, 32)

    def __init__(self, num_classes: int = 10, in_channels: int = 3, pretrained: str | None = None):
        super().__init__()
        self.in_channels = in_channels
        layers = []
        for c_in, c_out, drop in ((in_channels, 64, 0.1), (64, 128, 0.3), (128, 256, 0.5)):
            layers += [nn.Conv2d(c_in, c_out, kernel_size=5, stride=2, padding=2),
                       nn.BatchNorm2d(c_out), nn.Dropout2d(drop), nn.ReLU()]
        self.features = nn.Sequential(
            *layers,
            nn.Flatten(),
            nn.Linear(256 * 4 * 4, 512),
            nn.BatchNorm1d(512),
            nn.ReLU(),
            nn.Dropout(p=0.5),
        )
        self.head = nn.Linear(512, num_classes)
        self.load(pretrained)
