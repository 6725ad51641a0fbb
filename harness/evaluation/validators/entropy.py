"""Mean prediction entropy on the target (Morerio et al. 2018): lower is better."""

import torch

from harness.evaluation.validators.base import Validator, entropies, probabilities, register


@register
class Entropy(Validator):
    """Mean over target samples of the entropy (nats) of the predicted distribution."""

    name = "entropy"
    higher_is_better = False
    reads = frozenset({"target_probs"})

    def __init__(self):
        self._total = torch.zeros(2, dtype=torch.float64)  # entropy sum, sample count

    def update(self, batch) -> None:
        probs = probabilities(self._inputs(batch)["target_probs"], "target_probs")
        self._total += torch.stack([entropies(probs).sum(), probs.new_tensor(len(probs))]).cpu()

    def all_reduce(self) -> None:
        from mmengine import dist

        dist.all_reduce(self._total, op="sum")

    def score(self) -> float:
        total, count = self._total.tolist()
        if not count:
            raise ValueError("validator 'entropy' saw no target samples")
        return total / count
