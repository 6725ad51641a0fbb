"""NTHU cross-city: 13 evaluated classes, unlabelled train split, one city per dataset."""

import numpy as np
import pytest

from harness.data.labelmaps import get_labelmap
from harness.data.loading import load_label, read_label_ids
from harness.data.nthu import NTHU

# Expected trainIds of the fixture grid, transcribed from datasets.md 14.4.
# fmt: off
NTHU_EXPECTED = [
    [0, 1, 2, 6, 7],
    [8, 10, 11, 12, 13],
    [15, 17, 18, 255, 255],
    [255, 255, 255, 255, 255],
]
# fmt: on


def test_loader_gives_expected_trainids(assert_loader_gives):
    assert_loader_gives("nthu", "test", {"city": "Rio"}, NTHU_EXPECTED)


def test_full_cityscapes_map_would_differ(seg_root, cell_centres):
    path = NTHU(str(seg_root("nthu")), "test", city="Rio")[0]["meta"]["label_path"]
    nthu = load_label(path, get_labelmap("nthu"))
    # A loader with the full Cityscapes table (its own check would also refuse the 255).
    full = get_labelmap("cityscapes").lut[read_label_ids(path, get_labelmap("nthu"))]
    assert not np.array_equal(nthu, full)
    # Last row and the 12: the full table puts pixels into non-evaluated classes.
    assert cell_centres(full, 4, 5)[3, :4].tolist() == [9, 14, 16, 5]
    assert cell_centres(full, 4, 5)[2, 4] == 3
    assert cell_centres(nthu, 4, 5)[3].tolist() == [255] * 5


def test_train_split_is_unlabelled(seg_root):
    item = NTHU(str(seg_root("nthu")), "train", city="Rio")[0]
    assert "label" not in item and item["meta"]["label_path"] is None
    with pytest.raises(ValueError, match="has no labels"):
        NTHU(str(seg_root("nthu")), "train", city="Rio", with_label=True)


def test_city_is_one_of_the_four(seg_root):
    with pytest.raises(ValueError, match="city must be one of Rio, Rome, Taipei, Tokyo"):
        NTHU(str(seg_root("nthu")), "test", city="Paris")
    ds = NTHU(str(seg_root("nthu")), "test", city="rio")  # any case
    assert ds.city == "Rio" and ds.metainfo["dataset"]["city"] == "Rio"
    assert all("/Rio/" in ds.get_data_info(i)["img_path"] for i in range(len(ds)))
