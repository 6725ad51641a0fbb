"""Segmentation loaders on the fixtures: exact trainIds, wrong maps detected, bad input."""

import os
from types import MappingProxyType

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from harness.data.fixtures import write_fixtures
from harness.data.labelmaps import LabelMap, get_labelmap
from harness.data.loading import load_label, read_label_ids
from harness.data.segmentation import seg_dataset_class
from harness.registry import DATASETS

SIZE = (64, 32)

# Expected trainIds of the fixture grids, transcribed from datasets.md 14.1-14.5.
# fmt: off
CITYSCAPES_EXPECTED = [
    [255, 255, 255, 0, 1, 255],
    [2, 3, 4, 5, 6, 7],
    [8, 9, 10, 11, 12, 13],
    [14, 15, 255, 16, 17, 18],
]
SYNTHIA_EXPECTED = [
    [255, 10, 2, 0, 1, 4],
    [8, 5, 13, 7, 11, 18],
    [17, 255, 255, 6, 9, 12],
    [14, 15, 16, 3, 255, 0],
]
NTHU_EXPECTED = [
    [0, 1, 2, 6, 7],
    [8, 10, 11, 12, 13],
    [15, 17, 18, 255, 255],
    [255, 255, 255, 255, 255],
]
BDD_EXPECTED = [
    [0, 1, 2, 3, 4],
    [5, 6, 7, 8, 9],
    [10, 11, 12, 13, 14],
    [15, 16, 17, 18, 255],
]
# fmt: on

CASES = {
    # dataset: (split, options, expected grid)
    "gta5": ("train", {}, CITYSCAPES_EXPECTED),
    "cityscapes": ("val", {}, CITYSCAPES_EXPECTED),
    "synthia": ("train", {}, SYNTHIA_EXPECTED),
    "nthu": ("test", {"city": "Rio"}, NTHU_EXPECTED),
    "bdd100k": ("val", {}, BDD_EXPECTED),
}


def cell_centres(img, rows, cols):
    height, width = img.shape[-2:]
    ys = [int((r + 0.5) * height / rows) for r in range(rows)]
    xs = [int((c + 0.5) * width / cols) for c in range(cols)]
    return img[..., ys, :][..., xs]


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    out = tmp_path_factory.mktemp("fixtures")
    return {name: write_fixtures(name, out, n_per_split=3, size=SIZE) for name in CASES}


def build(name, root, **kw):
    split, options, _ = CASES[name]
    return seg_dataset_class(name)(str(root), kw.pop("split", split), **{**options, **kw})


@pytest.mark.parametrize("name", list(CASES))
def test_loader_gives_expected_trainids(name, roots):
    ds = build(name, roots[name])
    expected = np.array(CASES[name][2])
    assert len(ds) == 3
    for i in range(3):
        item = ds[i]
        assert item["inputs"].dtype == torch.uint8 and item["inputs"].shape == (3, SIZE[1], SIZE[0])
        assert item["label"].dtype == torch.int64 and item["label"].shape == (SIZE[1], SIZE[0])
        grid = cell_centres(item["label"].numpy(), *expected.shape)
        assert grid.tolist() == np.roll(expected, i, axis=1).tolist()
        assert item["meta"]["ori_shape"] == (SIZE[1], SIZE[0])
    # The image is the RGB file content, unchanged.
    rgb = np.asarray(Image.open(ds[0]["meta"]["img_path"]).convert("RGB"))
    assert (ds[0]["inputs"].permute(1, 2, 0).numpy() == rgb).all()


def test_gta5_labels_read_as_colours_are_detected(roots):
    path = str(roots["gta5"] / "labels" / "00001.png")
    luminance = cv2.imread(path, cv2.IMREAD_GRAYSCALE)  # OpenCV expands the palette
    with pytest.raises(ValueError, match="not valid gta5 label ids"):
        get_labelmap("gta5").remap(luminance, path)
    # Treating raw GTA5 ids as trainIds is caught too.
    with pytest.raises(ValueError, match="not valid cityscapes_trainids"):
        load_label(path, get_labelmap("cityscapes_trainids"))


def test_cityscapes_labelids_versus_trainids(roots, tmp_path):
    root = roots["cityscapes"]
    ds = build("cityscapes", root)
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


def test_synthia_wrong_channel_and_bit_depth_are_detected(roots):
    path = str(roots["synthia"] / "GT" / "LABELS" / "0000000.png")
    right = get_labelmap("synthia")
    wrong_channel = LabelMap("synthia_g", "1", right.mapping, right.valid_ids, 16, 1, "test")
    with pytest.raises(ValueError, match="not valid synthia_g label ids"):
        load_label(path, wrong_channel)
    eight_bit = LabelMap("synthia_8", "1", MappingProxyType({}), tuple(range(23)), 8, None, "test")
    with pytest.raises(ValueError, match="Pillow mode 'RGB'"):
        read_label_ids(path, eight_bit)
    high_bytes = cv2.imread(path)  # default flag: 8-bit BGR
    with pytest.raises(ValueError, match="expects 16-bit"):
        right.remap(high_bytes[:, :, 2], path)


def test_nthu_full_cityscapes_map_would_differ(roots):
    path = build("nthu", roots["nthu"])[0]["meta"]["label_path"]
    nthu = load_label(path, get_labelmap("nthu"))
    # A loader with the full Cityscapes table (its own check would also refuse the 255).
    full = get_labelmap("cityscapes").lut[read_label_ids(path, get_labelmap("nthu"))]
    assert not np.array_equal(nthu, full)
    # Last row and the 12: the full table puts pixels into non-evaluated classes.
    assert cell_centres(full, 4, 5)[3, :4].tolist() == [9, 14, 16, 5]
    assert cell_centres(full, 4, 5)[2, 4] == 3
    assert cell_centres(nthu, 4, 5)[3].tolist() == [255] * 5


def test_bdd_double_mapping_is_detected(roots):
    path = build("bdd100k", roots["bdd100k"])[0]["meta"]["label_path"]
    with pytest.raises(ValueError, match="ids 255 are not valid cityscapes"):
        load_label(path, get_labelmap("cityscapes"))
    raw = read_label_ids(path, get_labelmap("bdd100k"))
    double = get_labelmap("cityscapes").lut[np.where(raw == 255, 0, raw)]
    assert double[raw == 7].max() == 0 and double[raw == 13].max() == 4


def test_unlabelled_split_and_with_label(roots):
    item = build("nthu", roots["nthu"], split="train")[0]
    assert "label" not in item and item["meta"]["label_path"] is None
    with pytest.raises(ValueError, match="has no labels"):
        build("nthu", roots["nthu"], split="train", with_label=True)
    assert "label" not in build("bdd100k", roots["bdd100k"], split="train", with_label=False)[0]


def test_bad_arguments(roots):
    with pytest.raises(ValueError, match="unknown split 'tset'"):
        build("cityscapes", roots["cityscapes"], split="tset")
    with pytest.raises(ValueError, match="city must be one of"):
        build("nthu", roots["nthu"], city="Paris")
    with pytest.raises(ValueError, match="subset=5 but only 3"):
        build("gta5", roots["gta5"], subset=5)
    assert len(build("gta5", roots["gta5"], subset=2)) == 2
    with pytest.raises(ValueError, match="did you mean gta5"):
        seg_dataset_class("gta")


def test_missing_root_shows_expected_tree(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"(?s)images.*folder does not exist.*00001\.png"):
        seg_dataset_class("gta5")(str(tmp_path / "nowhere"), "train")


def test_missing_label_names_the_image(tmp_path):
    root = write_fixtures("gta5", tmp_path, n_per_split=2, size=SIZE)
    (root / "labels" / "00002.png").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"images/00002\.png: no label file .*labels/00002\.png"
    ):
        seg_dataset_class("gta5")(str(root), "train")


def test_out_of_range_id_names_file_and_value(tmp_path):
    root = write_fixtures("cityscapes", tmp_path, n_per_split=1, size=SIZE)
    ds = seg_dataset_class("cityscapes")(str(root), "val")
    path = ds[0]["meta"]["label_path"]
    ids = np.asarray(Image.open(path)).copy()
    ids[0, 0] = 40
    Image.fromarray(ids, mode="L").save(path)
    with pytest.raises(ValueError, match=r"labelIds\.png: ids 40 are not valid cityscapes"):
        ds[0]


def test_size_mismatch_error_and_gta5_policy(tmp_path):
    root = write_fixtures("cityscapes", tmp_path, n_per_split=1, size=SIZE)
    ds = seg_dataset_class("cityscapes")(str(root), "val")
    Image.new("RGB", (64, 40)).save(ds[0]["meta"]["img_path"])
    with pytest.raises(ValueError, match=r"label is 64x32 but its image .* is 64x40"):
        ds[0]
    root = write_fixtures("gta5", tmp_path, n_per_split=1, size=SIZE)
    Image.new("RGB", (64, 40)).save(root / "images" / "00001.png")
    label = seg_dataset_class("gta5")(str(root), "train")[0]["label"].numpy()
    assert label.shape == (40, 64)  # resized to the image with nearest neighbour
    assert cell_centres(label, 4, 6).tolist() == CITYSCAPES_EXPECTED


def test_8bit_label_where_16bit_expected(tmp_path):
    root = write_fixtures("synthia", tmp_path, n_per_split=1, size=SIZE)
    path = root / "GT" / "LABELS" / "0000000.png"
    cv2.imwrite(str(path), (cv2.imread(str(path), cv2.IMREAD_UNCHANGED) % 256).astype(np.uint8))
    with pytest.raises(ValueError, match=r"0000000\.png: label PNG is 8-bit"):
        seg_dataset_class("synthia")(str(root), "train")[0]


@pytest.mark.parametrize(
    "name, rel",
    [
        ("gta5", "labels/00001.png"),
        ("synthia", "GT/LABELS/0000000.png"),
        ("gta5", "images/00001.png"),
    ],
)
def test_corrupt_png_names_the_file(tmp_path, name, rel):
    root = write_fixtures(name, tmp_path, n_per_split=1, size=SIZE)
    data = (root / rel).read_bytes()
    (root / rel).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=rf"{rel}: .*(cannot decode|corrupt)"):
        seg_dataset_class(name)(str(root), "train")[0]


def test_registry_build_and_mmseg_pipeline(roots):
    ds = DATASETS.build(
        dict(
            type="cityscapes",
            data_root=str(roots["cityscapes"]),
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
    root = write_fixtures("gta5", tmp_path, n_per_split=3, size=SIZE)
    cls = seg_dataset_class("gta5")
    full = cls(str(root), "train").fingerprint()
    assert full == cls(str(root), "train").fingerprint()
    assert cls(str(root), "train", subset=2).fingerprint() != full
    (root / "images" / "00003.png").rename(root / "images" / "00004.png")
    (root / "labels" / "00003.png").rename(root / "labels" / "00004.png")
    assert cls(str(root), "train").fingerprint() != full
