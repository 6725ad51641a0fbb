"""AdapterNet (Hazan et al. 2018, seed 003): a learned input transformation before a frozen model.

A stack of 1x1 convolutions with ReLU, as many channels as the image, initialised to
the identity (§2: unit intra-channel and zero inter-channel weights; inputs in [0, 1]
so every ReLU passes them), followed by the frozen model's own preprocessing (the mean
subtraction of Fig. 1). Only the adapter trains, with labelled images of the new
camera; the frozen source model and its loss act as one big loss function (Fig. 1).
"""

from dataclasses import dataclass

import torch
from pydantic import PositiveInt
from torch import nn

from harness.method import UDAMethod
from harness.registry import METHODS


def identity_adapter(channels: int, layers: int) -> nn.Sequential:
    """``layers`` x (1x1 conv, ReLU), each conv the identity: F(x) = x for x >= 0 (§2)."""
    blocks = []
    for _ in range(layers):
        conv = nn.Conv2d(channels, channels, kernel_size=1)
        with torch.no_grad():
            conv.weight.copy_(torch.eye(channels).view(channels, channels, 1, 1))
            conv.bias.zero_()
        blocks += [conv, nn.ReLU()]
    return nn.Sequential(*blocks)


@METHODS.register_module(name="adapternet")
class AdapterNet(UDAMethod):
    @dataclass(frozen=True)
    class HParams:
        layers: PositiveInt = 5  # at least one; §5.1: "our AdapterNet with 5 layers"

    train_domains = ("target",)
    uses_target_labels = True
    needs_source_model = True
    tasks = ("classification",)

    def __init__(self, backbone: dict, **kwargs):
        super().__init__(backbone, **kwargs)
        self.net.requires_grad_(False)
        # §2: "3 channels" for RGB; the image's channel count in general.
        self.adapter = identity_adapter(backbone.get("in_channels", 3), self.hp.layers)

    def train(self, mode: bool = True):
        super().train(mode)
        # The frozen model is a fixed loss function: no dropout, no BatchNorm statistics updates.
        self.net.eval()
        return self

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        unit = x.float() / 255 if x.dtype == torch.uint8 else x
        return self.net(self.normalize(self.adapter(unit)))

    def loss(self, source, target):
        return {"loss_ce": self.supervised_loss(target)}
