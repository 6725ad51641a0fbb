"""A seeded, hashed part of a split: source validation held out of the source training
data, or the subset of unlabeled target images the validators read."""

import numpy as np
from torch.utils.data import Dataset

from harness.registry import DATASETS
from harness.utils import stable_hash


def held_out_indices(n: int, seed: int, fraction: float | None = None,
                     size: int | None = None) -> np.ndarray:
    """Sorted indices of the held-out part: the first ``round(n * fraction)`` (or ``size``)
    of a seeded permutation of ``range(n)``."""
    count = size if size is not None else round(n * fraction)
    count = min(max(count, 1), n)
    return np.sort(np.random.default_rng(seed).permutation(n)[:count])


@DATASETS.register_module()
class SeededSplit(Dataset):
    """``part = "held"``: the held-out items of ``dataset``; ``"kept"``: all the others.

    Both parts of one (dataset, seed, fraction or size) are disjoint by construction,
    and the fingerprint hashes the chosen indices with the dataset's own fingerprint,
    so a record names exactly which images were held out.
    """

    def __init__(self, dataset: dict | Dataset, part: str, seed: int,
                 fraction: float | None = None, size: int | None = None):
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.metainfo = getattr(self.dataset, "metainfo", {})
        held = held_out_indices(len(self.dataset), seed, fraction, size)
        if part == "held":
            self.indices = held
        elif part == "kept":
            self.indices = np.setdiff1d(np.arange(len(self.dataset)), held)
        else:
            raise ValueError(f"SeededSplit part must be 'held' or 'kept', not {part!r}")
        self.part = part

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        return self.dataset[int(self.indices[i])]

    def fingerprint(self) -> str:
        return stable_hash([self.dataset.fingerprint(), self.part, self.indices.tolist()])
