"""BDD100K: masks that already hold trainIds must not be mapped again."""

import numpy as np
import pytest

from harness.data.bdd100k import BDD100K
from harness.data.labelmaps import get_labelmap
from harness.data.loading import load_label, read_label_ids

# Expected trainIds of the fixture grid, transcribed from datasets.md 14.5.
# fmt: off
BDD_EXPECTED = [
    [0, 1, 2, 3, 4],
    [5, 6, 7, 8, 9],
    [10, 11, 12, 13, 14],
    [15, 16, 17, 18, 255],
]
# fmt: on


def test_loader_gives_expected_trainids(assert_loader_gives):
    assert_loader_gives("bdd100k", "val", {}, BDD_EXPECTED)


def test_double_mapping_is_detected(seg_root):
    path = BDD100K(str(seg_root("bdd100k")), "val")[0]["meta"]["label_path"]
    with pytest.raises(ValueError, match="ids 255 are not valid cityscapes"):
        load_label(path, get_labelmap("cityscapes"))
    raw = read_label_ids(path, get_labelmap("bdd100k"))
    double = get_labelmap("cityscapes").lut[np.where(raw == 255, 0, raw)]
    assert double[raw == 7].max() == 0 and double[raw == 13].max() == 4


def test_labelled_split_without_labels(seg_root):
    item = BDD100K(str(seg_root("bdd100k")), "train", with_label=False)[0]
    assert "label" not in item and item["meta"]["label_path"] is None
