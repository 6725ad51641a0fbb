"""Fine-tuning the last k trainable layers of the source model on the labelled target.

AdapterNet's baselines (seed 003 §5.1, Table 1): the pre-trained model with only its
last one, two or three trainable layers unfrozen, trained on labelled images of the
new camera. A trainable layer is a module that owns parameters, counted from the
output back in registration order (for VGG16: fc8, fc7, fc6).
"""

from typing import ClassVar

from torch import nn

from harness.method import UDAMethod
from harness.registry import METHODS


def trainable_layers(net: nn.Module) -> list[nn.Module]:
    """Modules owning parameters, in registration order (the forward order of our classifiers)."""
    return [m for m in net.modules() if next(m.parameters(recurse=False), None) is not None]


class FinetuneLast(UDAMethod):
    train_domains = ("target",)
    uses_target_labels = True
    needs_source_model = True
    tasks = ("classification",)
    #: How many of the last trainable layers are unfrozen.
    layers: ClassVar[int]

    def __init__(self, backbone: dict, **kwargs):
        super().__init__(backbone, **kwargs)
        layers = trainable_layers(self.net)
        self.net.requires_grad_(False)
        for layer in layers[-self.layers:]:
            layer.requires_grad_(True)
        self.frozen_layers = layers[:-self.layers]

    def train(self, mode: bool = True):
        super().train(mode)
        # Frozen BatchNorm layers keep their running statistics as well as their weights.
        for layer in self.frozen_layers:
            layer.eval()
        return self

    def loss(self, source, target):
        return {"loss_ce": self.supervised_loss(target)}


@METHODS.register_module(name="finetune_last1")
class FinetuneLast1(FinetuneLast):
    layers = 1  # Table 1 "Fine-tuning last layer"


@METHODS.register_module(name="finetune_last2")
class FinetuneLast2(FinetuneLast):
    layers = 2  # Table 1 "Fine-tuning last two layers"


@METHODS.register_module(name="finetune_last3")
class FinetuneLast3(FinetuneLast):
    layers = 3  # Table 1 "Fine-tuning last three layers"
