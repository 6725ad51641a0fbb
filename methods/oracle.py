"""Oracle: supervised training on the labeled target training split (the upper bound).

It reads target labels by definition; records carry ``target_labels_used`` and
the leaderboard shows it as an upper bound, never ranked with UDA methods.
"""

from harness.method import UDAMethod
from harness.registry import METHODS


@METHODS.register_module(name="oracle")
class Oracle(UDAMethod):
    train_domains = ("target",)
    uses_target_labels = True

    def loss(self, source, target):
        return {"loss_ce": self.supervised_loss(target)}
