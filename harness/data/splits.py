"""Fixed, seeded, stratified splits whose indices are pinned by a hash in the protocol."""

import hashlib

import numpy as np

from harness.errors import HarnessError


class SplitMismatchError(HarnessError, ValueError):
    """The split drawn here differs from the one the protocol file pins."""


def stratified_split(labels: np.ndarray, seed: int, test_per_class: int) -> dict[str, np.ndarray]:
    """``test``: ``test_per_class`` random items of each class; ``rest``: the others.

    Both index arrays are sorted, so the split is a set (the sampler shuffles).
    """
    rng = np.random.default_rng(seed)
    test = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        if len(members) <= test_per_class:
            raise SplitMismatchError(
                f"class {cls} has {len(members)} items, not more than test_per_class="
                f"{test_per_class}; lower test_per_class in the protocol"
            )
        test.append(rng.permutation(members)[:test_per_class])
    test = np.sort(np.concatenate(test))
    rest = np.setdiff1d(np.arange(len(labels)), test)
    return {"rest": rest, "test": test}


def split_hash(split: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(split):
        h.update(name.encode())
        h.update(np.ascontiguousarray(split[name], dtype=np.int64).tobytes())
    return h.hexdigest()
