"""GTSRB (Stallkamp et al., "Man vs. computer", Neural Networks 2012): 43 traffic-sign classes.

Layout of the official archives (GTSRB_Final_Training_Images.zip,
GTSRB_Final_Test_Images.zip, GTSRB_Final_Test_GT.zip) extracted under the data root::

    GTSRB/Final_Training/Images/00000/GT-00000.csv   Filename;Width;Height;Roi.X1;...;ClassId
    GTSRB/Final_Training/Images/00000/00000_00000.ppm
    GTSRB/Final_Test/Images/00000.ppm
    GT-final_test.csv                                the test labels, same columns

39,209 training and 12,630 test images (the official splits). Each image is cropped
to its annotated region of interest, ``img[Roi.Y1:Roi.Y2, Roi.X1:Roi.X2]`` as the
usual numpy slice, then resized (32x32 for the Syn.Signs -> GTSRB protocol).
"""

from pathlib import Path

import pandas as pd

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

GTSRB_COUNTS = {"train": 39209, "test": 12630}
GTSRB_CLASSES = 43
COLUMNS = ("Filename", "Width", "Height", "Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2", "ClassId")
_FIX = ("extract GTSRB_Final_Training_Images.zip, GTSRB_Final_Test_Images.zip and "
        "GTSRB_Final_Test_GT.zip (GT-final_test.csv) into the data root again")


def _read_csv(path: Path, folder: Path, expected_class: int | None
              ) -> tuple[list[Sample], list[Problem]]:
    """Samples of one annotation file; every bad row is a problem naming file and row."""
    if not path.is_file():
        return [], [Problem(str(path), "missing annotation file", _FIX)]
    try:
        table = pd.read_csv(path, sep=";")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        return [], [Problem(str(path), f"is not a ';'-separated GTSRB CSV ({exc})", _FIX)]
    absent = [c for c in COLUMNS if c not in table.columns]
    if absent:
        return [], [Problem(str(path), f"lacks the columns {absent} (has "
                                       f"{list(table.columns)})", _FIX)]
    samples, problems = [], []
    for name, width, height, x1, y1, x2, y2, label in table[list(COLUMNS)].itertuples(
            index=False, name=None):
        where = f"{path} row {name}"
        if not 0 <= label < GTSRB_CLASSES or (expected_class is not None
                                             and label != expected_class):
            want = f"{expected_class} (its folder)" if expected_class is not None else "0..42"
            problems.append(Problem(where, f"ClassId {label}, expected {want}", _FIX))
            continue
        if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
            problems.append(Problem(where, f"ROI ({x1}, {y1}, {x2}, {y2}) is not inside the "
                                           f"{width}x{height} image", _FIX))
            continue
        samples.append(Sample(folder / name, int(label), (int(x1), int(y1), int(x2), int(y2))))
    return samples, problems


def gtsrb_samples(root: Path, split: str) -> list[Sample]:
    check_name("split of GTSRB", split, GTSRB_COUNTS)
    root = Path(root)
    if split == "train":
        images = root / "GTSRB" / "Final_Training" / "Images"
        if not images.is_dir():
            raise ImageSetError([Problem(str(images), "missing training folder",
                                         f"check --data-root; {_FIX}")])
        samples, problems = [], []
        for c in range(GTSRB_CLASSES):
            folder = images / f"{c:05d}"
            got, bad = _read_csv(folder / f"GT-{c:05d}.csv", folder, c)
            samples += got
            problems += bad
    else:
        samples, problems = _read_csv(root / "GT-final_test.csv",
                                      root / "GTSRB" / "Final_Test" / "Images", None)
    problems += missing_files(samples, _FIX)
    if problems:
        raise ImageSetError(problems)
    return samples


@DATASETS.register_module(name="gtsrb")
class GTSRB(ImageListDataset):
    """One official GTSRB split, ROI-cropped and resized to ``size`` x ``size``."""

    def __init__(self, data_root: str, split: str, size: int = 32, labels: bool = True,
                 subset: int | None = None):
        samples = gtsrb_samples(Path(data_root), split)
        samples = check_count(samples, GTSRB_COUNTS[split], subset,
                              f"{data_root} (GTSRB {split})", _FIX)
        super().__init__("GTSRB", samples, size, labels=labels)
