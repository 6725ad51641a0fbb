"""LeNet as in CyCADA's digits experiments (Hoffman et al. 2018, cycada/models/models.py).

The Calibrator paper (seed 000, section 4) uses "the same LeNet architecture as
CyCADA": two 5x5 convolutions (20, 50 channels) with max-pooling, a 500-unit
fully connected layer, dropout 0.5, and the classifier. Input 1x28x28.
"""

import torch
from torch import nn

from harness.registry import MODELS


@MODELS.register_module(name="lenet")
class LeNet(nn.Module):
    # CyCADA zero-centres digits: (x - 0.5) / 0.5 on [0, 1], here in 0-255 pixel units.
    input_norm = {"mean": (127.5,), "std": (127.5,), "to_bgr": False}
    output_stride = None  # a classifier: one prediction per image

    def __init__(self, num_classes: int = 10, in_channels: int = 1, pretrained: str | None = None):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 20, kernel_size=5),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Conv2d(20, 50, kernel_size=5),
            nn.Dropout2d(p=0.5),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(50 * 4 * 4, 500),
            nn.ReLU(),
            nn.Dropout(p=0.5),
        )
        self.head = nn.Linear(500, num_classes)
        if pretrained:
            from harness.models.pretrained import load_pretrained

            load_pretrained(self, pretrained)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.forward_features(x))
