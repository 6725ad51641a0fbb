"""Information maximisation (Shi & Sha 2012; SHOT, Liang et al. 2020): higher is better."""

import torch

from harness.evaluation.validators.base import Validator, entropies, probabilities, register


@register
class InformationMaximisation(Validator):
    """Entropy of the mean target prediction minus the mean prediction entropy (nats).

    The first term rewards predictions spread over the classes, the second
    confident ones: the score is the mutual information between a target
    sample and its predicted class.
    """

    name = "im"
    higher_is_better = True
    reads = frozenset({"target_probs"})

    def __init__(self):
        self._prob_sum: torch.Tensor | None = None
        self._total = torch.zeros(2, dtype=torch.float64)  # entropy sum, sample count

    def update(self, batch) -> None:
        probs = probabilities(self._inputs(batch)["target_probs"], "target_probs")
        if self._prob_sum is None:
            self._prob_sum = torch.zeros(probs.shape[1], dtype=torch.float64)
        self._prob_sum += probs.sum(0).cpu()
        self._total += torch.stack([entropies(probs).sum(), probs.new_tensor(len(probs))]).cpu()

    def all_reduce(self) -> None:
        from mmengine import dist

        if self._prob_sum is None:
            raise ValueError("validator 'im' saw no target samples on this process; every "
                             "process must see at least one batch before all_reduce")
        dist.all_reduce(self._prob_sum, op="sum")
        dist.all_reduce(self._total, op="sum")

    def score(self) -> float:
        total, count = self._total.tolist()
        if not count:
            raise ValueError("validator 'im' saw no target samples")
        mean = self._prob_sum[None] / count
        return float(entropies(mean)[0]) - total / count
