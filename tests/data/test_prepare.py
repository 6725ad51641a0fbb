"""`harness data prepare --dataset cityscapes` writes the labelTrainIds files the archive lacks."""

import numpy as np
import pytest
from PIL import Image

from harness.cli import main
from harness.data.fixtures import write_fixtures
from harness.data.prepare import PrepareError, prepare
from harness.data.seg_base import seg_dataset_class

SIZE = (64, 32)
# trainId of labelIds 0..33, transcribed from cityscapesscripts/helpers/labels.py (the
# trainId column of its label table): an independent reference for the project's map.
# fmt: off
TRAIN_ID_OF = np.array([
    255, 255, 255, 255, 255, 255, 255, 0, 1, 255, 255, 2, 3, 4, 255, 255, 255, 5, 255, 6,
    7, 8, 9, 10, 11, 12, 13, 14, 15, 255, 255, 16, 17, 18,
], dtype=np.uint8)
# fmt: on


def test_prepare_writes_train_ids_equal_to_the_table_applied_to_label_ids(tmp_path):
    root = write_fixtures("cityscapes", tmp_path, n_per_split=2, size=SIZE)
    sources = sorted(root.glob("gtFine/*/*/*_gtFine_labelIds.png"))
    with pytest.raises(FileNotFoundError, match="labelTrainIds"):  # the state as distributed
        seg_dataset_class("cityscapes")(str(root), "val", label_type="labelTrainIds")
    assert main(["data", "prepare", "--dataset", "cityscapes", "--data-root", str(root)]) == 0
    for source in sources:
        target = source.with_name(source.name.replace("_labelIds", "_labelTrainIds"))
        written = Image.open(target)
        assert written.mode == "L" and written.size == SIZE
        assert (np.asarray(written) == TRAIN_ID_OF[np.asarray(Image.open(source))]).all()
    assert not list(root.rglob("*.tmp"))
    # The loader now reads them, with the same labels as from labelIds.
    cls = seg_dataset_class("cityscapes")
    from_train_ids = cls(str(root), "val", label_type="labelTrainIds")[1]["label"]
    assert (from_train_ids == cls(str(root), "val")[1]["label"]).all()


def test_existing_files_are_kept_and_bad_ones_named(tmp_path):
    root = write_fixtures("cityscapes", tmp_path, n_per_split=2, size=SIZE)
    sources = sorted(root.glob("gtFine/*/*/*_gtFine_labelIds.png"))
    kept = sources[0].with_name(sources[0].name.replace("_labelIds", "_labelTrainIds"))
    kept.write_bytes(b"left alone")
    ids = np.asarray(Image.open(sources[1])).copy()
    ids[0, 0] = 77
    Image.fromarray(ids).save(sources[1])
    with pytest.raises(PrepareError, match=rf"1 of 3 label files .*\n- {sources[1]}: ids 77 "
                                           "are not valid cityscapes label ids"):
        prepare("cityscapes", root)
    assert kept.read_bytes() == b"left alone"
    assert len(list(root.glob("gtFine/*/*/*_gtFine_labelTrainIds.png"))) == 3
    Image.fromarray(ids % 34).save(sources[1])
    done = prepare("cityscapes", root)
    assert (done.written, done.skipped) == (1, 3)


def test_wrong_root_and_unknown_dataset(tmp_path):
    with pytest.raises(PrepareError, match="the one holding gtFine/"):
        prepare("cityscapes", tmp_path)
    with pytest.raises(KeyError, match="'cityscapes'"):
        prepare("cityscape", tmp_path)
