"""Source only: supervised training on labeled source data, no adaptation (the lower bound)."""

from harness.method import UDAMethod
from harness.registry import METHODS


@METHODS.register_module(name="source_only")
class SourceOnly(UDAMethod):
    train_domains = ("source",)

    def loss(self, source, target):
        return {"loss_ce": self.supervised_loss(source)}
