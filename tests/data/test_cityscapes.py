"""Cityscapes: labelIds and labelTrainIds files on the fixture copy."""

import os

import numpy as np
import pytest
from PIL import Image

from harness.data.cityscapes import Cityscapes
from harness.data.fixtures import write_fixtures
from harness.data.labelmaps import get_labelmap
from harness.data.loading import load_label

# Expected trainIds of the fixture grid, transcribed from datasets.md 14.1.
# fmt: off
CITYSCAPES_EXPECTED = [
    [255, 255, 255, 0, 1, 255],
    [2, 3, 4, 5, 6, 7],
    [8, 9, 10, 11, 12, 13],
    [14, 15, 255, 16, 17, 18],
]
# fmt: on


def test_loader_gives_expected_trainids(assert_loader_gives):
    assert_loader_gives("cityscapes", "val", {}, CITYSCAPES_EXPECTED)


def test_labelids_versus_trainids(seg_root):
    ds = Cityscapes(str(seg_root("cityscapes")), "val")
    label_ids = ds[0]["meta"]["label_path"]
    # labelIds read as if they were trainIds: ids 19..33 are refused.
    with pytest.raises(ValueError, match="not valid cityscapes_trainids"):
        load_label(label_ids, get_labelmap("cityscapes_trainids"))
    # A proper labelTrainIds file loads unchanged with label_type="labelTrainIds" ...
    train_ids = label_ids.replace("_gtFine_labelIds.png", "_gtFine_labelTrainIds.png")
    Image.fromarray(ds[0]["label"].numpy().astype(np.uint8), mode="L").save(train_ids)
    try:
        loaded = load_label(train_ids, get_labelmap("cityscapes_trainids"))
        assert (loaded == ds[0]["label"].numpy()).all()
        # ... and mapping it again as labelIds (double mapping, T11) is refused (255 > 33).
        with pytest.raises(ValueError, match="ids 255 are not valid cityscapes"):
            load_label(train_ids, get_labelmap("cityscapes"))
    finally:
        os.remove(train_ids)


def test_label_type_labeltrainids_reads_trainid_files(tmp_path, cell_centres):
    root = write_fixtures("cityscapes", tmp_path, n_per_split=1)
    with pytest.raises(ValueError, match="label_type must be one of"):
        Cityscapes(str(root), "val", label_type="color")
    # Without labelTrainIds files (not shipped: made by createTrainIdLabelImgs.py) ...
    with pytest.raises(FileNotFoundError, match="no label file .*_gtFine_labelTrainIds.png"):
        Cityscapes(str(root), "val", label_type="labelTrainIds")
    # ... and with them: read as they are, recorded as the identity map.
    for ids in (root / "gtFine" / "val").glob("*/*_gtFine_labelIds.png"):
        train_ids = get_labelmap("cityscapes").remap(np.asarray(Image.open(ids)))
        out = str(ids).replace("_gtFine_labelIds.png", "_gtFine_labelTrainIds.png")
        Image.fromarray(train_ids, mode="L").save(out)
    ds = Cityscapes(str(root), "val", label_type="labelTrainIds")
    assert ds[0]["meta"]["label_path"].endswith("_gtFine_labelTrainIds.png")
    assert cell_centres(ds[0]["label"].numpy(), 4, 6).tolist() == CITYSCAPES_EXPECTED
    assert ds.metainfo["label_map"]["name"] == "cityscapes_trainids"
    assert ds.metainfo["dataset"]["label_type"] == "labelTrainIds"
