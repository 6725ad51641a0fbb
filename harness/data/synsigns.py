"""Syn.Signs (Moiseev et al., ACIVS 2013): 100,000 rendered traffic signs, GTSRB's 43 ids.

Layout of ``synthetic_data.zip`` extracted under the data root::

    synthetic_data/train_labelling.txt   one line per image: "train/00000.png 21 0"
    synthetic_data/train/00000.png       (path relative to synthetic_data/, class id, ...)

The release has no test split. As DIRT-T (RuiShu/dirt-t codebase/datasets.py
SynSigns: a permutation drawn with seed 0, the first 95,000 for training, the rest
for testing), the protocol draws ``np.random.RandomState(split_seed).permutation``
over the lines in file order and keeps the last ``test_count`` as ``test``. The
legacy RandomState stream is frozen by NumPy's compatibility policy, so the split
depends only on the file.
"""

from pathlib import Path

import numpy as np

from harness.data.image_lists import (
    ImageListDataset,
    ImageSetError,
    Sample,
    check_count,
    missing_files,
)
from harness.data.seg_base import Problem
from harness.names import check_name
from harness.registry import DATASETS

SYNSIGNS_COUNT = 100_000
_FIX = "extract synthetic_data.zip (Syn.Signs) into the data root again"


def synsigns_samples(root: Path) -> list[Sample]:
    """Every line of ``train_labelling.txt`` as a sample; all problems in one error."""
    folder = Path(root) / "synthetic_data"
    listing = folder / "train_labelling.txt"
    if not listing.is_file():
        raise ImageSetError([Problem(str(listing), "missing label list",
                                     f"check --data-root; {_FIX}")])
    samples, problems = [], []
    for number, line in enumerate(listing.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        where = f"{listing} line {number}"
        if len(parts) < 2 or not parts[1].isdigit():
            problems.append(Problem(where, f"{line!r} is not '<image> <class id> ...'", _FIX))
        elif int(parts[1]) >= 43:
            problems.append(Problem(where, f"class id {parts[1]} is outside GTSRB's 0..42",
                                    _FIX))
        else:
            samples.append(Sample(folder / parts[0], int(parts[1])))
    problems += missing_files(samples, _FIX)
    if problems:
        raise ImageSetError(problems)
    return samples


def split_indices(n: int, split: str, seed: int, test_count: int) -> np.ndarray:
    """Sorted indices of ``split`` ("train" or "test") among ``n`` lines."""
    check_name("split of Syn.Signs", split, ["train", "test"])
    if not 0 < test_count < n:
        raise ImageSetError([Problem("synthetic_data/train_labelling.txt",
                                     f"test_count {test_count} must be between 1 and the "
                                     f"{n} images - 1", "fix options.test_count")])
    order = np.random.RandomState(seed).permutation(n)
    part = order[n - test_count:] if split == "test" else order[:n - test_count]
    return np.sort(part)


@DATASETS.register_module(name="synsigns")
class SynSigns(ImageListDataset):
    """One part of Syn.Signs, resized to ``size`` x ``size``."""

    def __init__(self, data_root: str, split: str, split_seed: int = 0, test_count: int = 5000,
                 size: int = 32, labels: bool = True, subset: int | None = None):
        samples = check_count(synsigns_samples(Path(data_root)), SYNSIGNS_COUNT, subset,
                              f"{data_root} (Syn.Signs)", _FIX)
        index = split_indices(len(samples), split, split_seed, test_count)
        super().__init__("Syn.Signs", [samples[i] for i in index], size, labels=labels)
