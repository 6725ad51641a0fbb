"""Soft neighbourhood density (Saito et al., ICCV 2021): higher is better."""

import torch

from harness.evaluation.validators.base import Validator, probabilities, register
from harness.evaluation.validators.sampling import Reservoir

#: Rows of the similarity matrix formed at once: memory is BLOCK * max_samples * 8 bytes.
BLOCK = 1024


@register
class SoftNeighborhoodDensity(Validator):
    """Mean entropy of each target sample's soft neighbourhood.

    Samples (probabilities, or features with ``space="features"``) are
    L2-normalised; sample i's neighbourhood is the softmax over j != i of
    cosine(i, j) / ``temperature``. A dense neighbourhood (high entropy) means
    target samples cluster. The score uses a seeded reservoir of at most
    ``max_samples`` samples (all of them when the target set is smaller), so the
    N x N similarity stays bounded.
    """

    name = "snd"
    higher_is_better = True

    def __init__(self, space: str = "probs", temperature: float = 0.05,
                 max_samples: int = 4096, seed: int = 0):
        if space not in ("probs", "features"):
            raise ValueError(f"snd space must be 'probs' or 'features', got {space!r}")
        self.key = f"target_{space}"
        self.reads = frozenset({self.key})
        self.temperature = temperature
        self._sample = Reservoir(max_samples, seed)

    def update(self, batch) -> None:
        rows = self._inputs(batch)[self.key]
        if self.key == "target_probs":
            rows = probabilities(rows, self.key)
        self._sample.add(rows.flatten(1))

    def all_reduce(self) -> None:
        self._sample.all_gather()

    def score(self) -> float:
        rows = self._sample.rows
        if rows is None or len(rows) < 2:
            raise ValueError("validator 'snd' needs at least 2 target samples")
        rows = torch.nn.functional.normalize(rows, dim=1)
        total = 0.0
        for start in range(0, len(rows), BLOCK):
            sim = rows[start: start + BLOCK] @ rows.T / self.temperature
            own = torch.arange(start, start + len(sim))
            sim[own - start, own] = -torch.inf  # a sample is not its own neighbour
            total += float(torch.special.entr(sim.softmax(1)).sum())
        return total / len(rows)
