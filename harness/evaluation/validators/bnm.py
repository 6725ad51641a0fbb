"""Batch nuclear-norm maximisation (Cui et al. 2020) as a validator: higher is better."""

import torch

from harness.evaluation.validators.base import Validator, probabilities, register


@register
class BatchNuclearNorm(Validator):
    """Nuclear norm of the [N, C] matrix of all target probabilities, divided by N.

    Exact over the whole target set, as pytorch-adapt's ``BNMValidator``, yet
    streaming in O(C^2) memory: the singular values of P are the square roots
    of the eigenvalues of the Gram matrix P^T P, a sum over batches. So no
    chunking is needed, and the all-reduce is exact. The value shrinks as
    sqrt(1/N) for a fixed spread of predictions: compare checkpoints on the
    same target set only.
    """

    name = "bnm"
    higher_is_better = True
    reads = frozenset({"target_probs"})

    def __init__(self):
        self._gram: torch.Tensor | None = None
        self._count = torch.zeros((), dtype=torch.float64)

    def update(self, batch) -> None:
        probs = probabilities(self._inputs(batch)["target_probs"], "target_probs")
        if self._gram is None:
            self._gram = torch.zeros(probs.shape[1], probs.shape[1], dtype=torch.float64)
        self._gram += (probs.T @ probs).cpu()
        self._count += len(probs)

    def all_reduce(self) -> None:
        from mmengine import dist

        if self._gram is None:
            raise ValueError("validator 'bnm' saw no target samples on this process; every "
                             "process must see at least one batch before all_reduce")
        dist.all_reduce(self._gram, op="sum")
        dist.all_reduce(self._count, op="sum")

    def score(self) -> float:
        if not self._count:
            raise ValueError("validator 'bnm' saw no target samples")
        # eigvalsh may return tiny negative values for a singular Gram matrix.
        singular = torch.linalg.eigvalsh(self._gram).clamp(min=0).sqrt()
        return float(singular.sum() / self._count)
