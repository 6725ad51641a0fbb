"""What a round-based method gets at the start of each round: data, an artifact store, ranks.

Self-training and multi-phase methods work in rounds (predict on the target,
select, retrain). They need the unaugmented training splits and somewhere to
keep what a round produced so that a resumed run reuses it. The harness owns
both: methods never read the runner's config and never open files themselves.
"""

from functools import cached_property
from pathlib import Path

import cv2
import numpy as np
import torch
from mmengine import dist
from torch.utils.data import Dataset

from harness.utils import atomic_path, atomic_write

#: Names the current round's folder for the pseudo-label transform (and its workers).
CURRENT = "CURRENT"


class Artifacts:
    """A run-owned folder of named artifacts, written atomically and by rank 0 only.

    Names are relative paths (``round_1.pt``, ``round_1/aachen_000000.png``). What
    a round writes is reused after an interruption, never recomputed.
    """

    def __init__(self, root: Path, rank: int = 0):
        self.root = Path(root)
        self.rank = rank

    def exists(self, name: str) -> bool:
        return (self.root / name).is_file()

    def save(self, name: str, obj) -> None:
        """Tensors and plain containers (loaded back with ``weights_only=True``)."""
        if self.rank == 0:
            with atomic_path(self.root / name) as tmp:
                torch.save(obj, tmp)

    def load(self, name: str):
        return torch.load(self.root / name, map_location="cpu", weights_only=True)

    def save_label_map(self, name: str, labels: np.ndarray) -> None:
        """An 8-bit PNG label map (lossless, as the pseudo-label transform reads it)."""
        if self.rank == 0:
            ok, png = cv2.imencode(".png", labels.astype(np.uint8))
            if not ok:
                raise RuntimeError(f"could not encode {name} as PNG")
            atomic_write(self.root / name, png.tobytes())

    def mark_done(self, folder: str) -> None:
        """A folder is complete: written after its last file, so a crash never looks done."""
        if self.rank == 0:
            atomic_write(self.root / folder / "DONE", "")

    def is_done(self, folder: str) -> bool:
        return (self.root / folder / "DONE").is_file()

    def set_current(self, folder: str) -> None:
        """Point the pseudo-label transform at ``folder``; every rank waits for the write."""
        if self.rank == 0:
            atomic_write(self.root / CURRENT, folder)
        dist.barrier()


class RoundContext:
    """Round ``round`` of a run: what :meth:`UDAMethod.on_round_start` may use.

    ``datasets`` are configs of the unaugmented training splits (the target's
    without labels, read as the test split is read: no crops, no flips; the
    source's with labels and no transforms); each is built on first use only,
    so a method that never asks for the source never has it built.
    """

    def __init__(self, round_idx: int, artifacts: Artifacts, datasets: dict[str, dict],
                 built: dict[str, Dataset] | None = None):
        self.round = round_idx
        self.artifacts = artifacts
        self._configs = datasets
        self._built = {} if built is None else built  # shared across rounds by the hook

    @cached_property
    def rank(self) -> int:
        return dist.get_rank()

    @cached_property
    def world_size(self) -> int:
        return dist.get_world_size()

    def dataset(self, domain: str) -> Dataset:
        """The unaugmented training split of ``"target"`` (no labels) or ``"source"``."""
        from harness.registry import DATASETS

        if domain not in self._built:
            self._built[domain] = DATASETS.build(self._configs[domain])
        return self._built[domain]

    @staticmethod
    def all_reduce(tensor: torch.Tensor) -> torch.Tensor:
        """Sum over processes, in place (a no-op on one process); returns the tensor."""
        dist.all_reduce(tensor, op="sum")
        return tensor
