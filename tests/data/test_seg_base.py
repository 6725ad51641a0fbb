"""The segmentation dataset base: listing problems, arguments, pipeline, fingerprint, registry."""

import importlib
import pkgutil
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import harness.data
from harness.data.fixtures import write_fixtures
from harness.data.labelmaps import get_labelmap
from harness.data.seg_base import SegDataset, seg_dataset_class, seg_datasets
from harness.errors import HarnessError
from harness.registry import DATASETS


def test_registered_segmentation_datasets_each_have_their_module():
    assert seg_datasets() == ["bdd100k", "cityscapes", "gta5", "nthu", "synthia"]
    for name in seg_datasets():
        cls = seg_dataset_class(name)
        assert cls.NAME == name and DATASETS.get(name) is cls
        module = importlib.import_module(f"harness.data.{name}")
        assert cls.__module__ == module.__name__ and getattr(module, cls.__name__) is cls


def test_other_datasets_are_not_segmentation_datasets():
    assert DATASETS.get("digits") is not None
    assert not issubclass(DATASETS.get("digits"), SegDataset)
    assert "digits" not in seg_datasets()


def test_unknown_dataset_lists_the_closest_names():
    with pytest.raises(KeyError, match=r"unknown segmentation dataset 'gta'\. Did you mean 'gta5'"):
        seg_dataset_class("gta")
    with pytest.raises(HarnessError, match="Known segmentation datasets: bdd100k, cityscapes, "):
        seg_dataset_class("digits")


def test_every_module_of_the_package_is_imported():
    modules = {f"harness.data.{m.name}" for m in pkgutil.iter_modules(harness.data.__path__)}
    assert {"harness.data.gta5", "harness.data.seg_base", "harness.data.digits"} <= modules
    assert modules <= set(sys.modules)


def test_bad_arguments(seg_root):
    gta5 = seg_dataset_class("gta5")
    with pytest.raises(ValueError, match="unknown split 'tset'"):
        gta5(str(seg_root("gta5")), "tset")
    with pytest.raises(ValueError, match="subset=5 but only 3"):
        gta5(str(seg_root("gta5")), "train", subset=5)
    with pytest.raises(ValueError, match="stride must be a positive count"):
        gta5(str(seg_root("gta5")), "train", stride=0)
    assert len(gta5(str(seg_root("gta5")), "train", subset=2)) == 2
    strided = gta5(str(seg_root("gta5")), "train", stride=2)
    assert [strided.get_data_info(i)["img_path"][-9:] for i in range(2)] == [
        "00001.png",
        "00003.png",
    ]


def test_missing_root_shows_expected_tree(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"(?s)images.*folder does not exist.*00001\.png"):
        seg_dataset_class("gta5")(str(tmp_path / "nowhere"), "train")


def test_missing_label_names_the_image(tmp_path):
    root = write_fixtures("gta5", tmp_path, n_per_split=2)
    (root / "labels" / "00002.png").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"images/00002\.png: no label file .*labels/00002\.png"
    ):
        seg_dataset_class("gta5")(str(root), "train")


def test_out_of_range_id_names_file_and_value(tmp_path):
    root = write_fixtures("cityscapes", tmp_path, n_per_split=1)
    ds = seg_dataset_class("cityscapes")(str(root), "val")
    path = ds[0]["meta"]["label_path"]
    ids = np.asarray(Image.open(path)).copy()
    ids[0, 0] = 40
    Image.fromarray(ids, mode="L").save(path)
    with pytest.raises(ValueError, match=r"labelIds\.png: ids 40 are not valid cityscapes"):
        ds[0]


def test_size_mismatch_is_an_error(tmp_path):
    root = write_fixtures("cityscapes", tmp_path, n_per_split=1)
    ds = seg_dataset_class("cityscapes")(str(root), "val")
    Image.new("RGB", (64, 40)).save(ds[0]["meta"]["img_path"])
    with pytest.raises(ValueError, match=r"label is 64x32 but its image .* is 64x40"):
        ds[0]


@pytest.mark.parametrize(
    "name, rel",
    [
        ("gta5", "labels/00001.png"),
        ("synthia", "GT/LABELS/0000000.png"),
        ("gta5", "images/00001.png"),
    ],
)
def test_corrupt_png_names_the_file(tmp_path, name, rel):
    root = write_fixtures(name, tmp_path, n_per_split=1)
    data = (root / rel).read_bytes()
    (root / rel).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=rf"{rel}: .*(cannot decode|corrupt)"):
        seg_dataset_class(name)(str(root), "train")[0]


def test_registry_build_and_mmseg_pipeline(seg_root):
    ds = DATASETS.build(
        dict(
            type="cityscapes",
            data_root=str(seg_root("cityscapes")),
            split="val",
            pipeline=[
                dict(type="RandomResize", scale=(128, 64), ratio_range=(0.5, 2.0), keep_ratio=True),
                dict(type="RandomCrop", crop_size=(24, 24)),
                dict(type="RandomFlip", prob=0.5),
            ],
        )
    )
    assert ds.metainfo["label_map"]["fingerprint"] == get_labelmap("cityscapes").fingerprint
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=lambda b: b)))
    for item in batch:
        assert item["inputs"].shape == (3, 24, 24) and item["label"].shape == (24, 24)
        # Nearest-neighbour resizing never invents ids (T12).
        assert set(item["label"].unique().tolist()) <= set(range(19)) | {255}


def test_fingerprint_tracks_the_files_used(tmp_path):
    root = write_fixtures("gta5", tmp_path, n_per_split=3)
    cls = seg_dataset_class("gta5")
    full = cls(str(root), "train").fingerprint()
    assert full == cls(str(root), "train").fingerprint()
    assert cls(str(root), "train", subset=2).fingerprint() != full
    (root / "images" / "00003.png").rename(root / "images" / "00004.png")
    (root / "labels" / "00003.png").rename(root / "labels" / "00004.png")
    assert cls(str(root), "train").fingerprint() != full
