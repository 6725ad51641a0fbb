"""The fixtures reproduce the real file formats (datasets.md section 14)."""

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from harness.data.fixtures import (
    fixture_datasets,
    fixture_splits,
    segmentation_fixtures,
    write_fixtures,
)
from harness.data.labelmaps import get_labelmap
from harness.data.loading import read_label_ids
from harness.data.seg_base import seg_dataset_class

SIZE = (64, 32)


def cell_centres(img, rows, cols):
    """Value at the centre of each cell of a rows x cols grid stretched over ``img``."""
    height, width = img.shape[:2]
    ys = [int((r + 0.5) * height / rows) for r in range(rows)]
    xs = [int((c + 0.5) * width / cols) for c in range(cols)]
    return img[np.ix_(ys, xs)]


def test_fixture_datasets_lists_the_five_segmentation_sets_and_the_classification_ones():
    assert segmentation_fixtures() == ["bdd100k", "cityscapes", "gta5", "nthu", "synthia"]
    assert set(fixture_datasets()) - set(segmentation_fixtures()) == {
        "gtsrb", "mnist", "office31", "svhn", "syndigits", "synsigns"}
    assert fixture_splits("nthu", 3) == {"train": 3, "test": 3}


def test_gta5_layout_and_palette_labels(tmp_path):
    root = write_fixtures("gta5", tmp_path, n_per_split=3, size=SIZE)
    assert sorted(p.name for p in (root / "images").iterdir()) == [
        "00001.png",
        "00002.png",
        "00003.png",
    ]
    label = Image.open(root / "labels" / "00001.png")
    assert label.mode == "P" and label.size == SIZE
    assert label.getpalette()[7 * 3 : 7 * 3 + 3] == [128, 64, 128]  # labelId 7 road colour
    assert cell_centres(np.asarray(label), 4, 6).tolist() == [
        [0, 34, 4, 7, 8, 9],
        [11, 12, 13, 17, 19, 20],
        [21, 22, 23, 24, 25, 26],
        [27, 28, 29, 31, 32, 33],
    ]
    # OpenCV expands the palette to colours: the trap the loader avoids.
    assert cv2.imread(str(root / "labels" / "00001.png"), cv2.IMREAD_UNCHANGED).ndim == 3
    assert Image.open(root / "images" / "00001.png").mode == "RGB"


def test_cityscapes_layout_and_decoys(tmp_path):
    root = write_fixtures("cityscapes", tmp_path, size=SIZE)
    gt = root / "gtFine" / "val" / "frankfurt"
    stem = "frankfurt_000000_000019"
    assert (root / "leftImg8bit" / "val" / "frankfurt" / f"{stem}_leftImg8bit.png").is_file()
    assert (
        root / "leftImg8bit" / "train" / "bochum" / "bochum_000001_000019_leftImg8bit.png"
    ).is_file()
    label_ids = Image.open(gt / f"{stem}_gtFine_labelIds.png")
    assert label_ids.mode == "L"
    assert cell_centres(np.asarray(label_ids), 4, 6)[0].tolist() == [0, 1, 4, 7, 8, 9]
    instances = cv2.imread(str(gt / f"{stem}_gtFine_instanceIds.png"), cv2.IMREAD_UNCHANGED)
    assert instances.dtype == np.uint16 and instances.max() == 33001
    assert Image.open(gt / f"{stem}_gtFine_color.png").mode == "RGBA"
    assert json.loads((gt / f"{stem}_gtFine_polygons.json").read_text())["imgWidth"] == SIZE[0]


def test_synthia_labels_are_16bit_rgb_with_class_in_r(tmp_path):
    root = write_fixtures("synthia", tmp_path, size=SIZE)
    path = root / "GT" / "LABELS" / "0000000.png"
    bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert bgr.dtype == np.uint16 and bgr.shape == (SIZE[1], SIZE[0], 3)
    assert cell_centres(bgr[:, :, 2], 4, 6).tolist() == [
        [0, 1, 2, 3, 4, 5],
        [6, 7, 8, 9, 10, 11],
        [12, 13, 14, 15, 16, 17],
        [18, 19, 20, 21, 22, 3],
    ]
    assert bgr[:, :, 1].min() >= 256 and (bgr[:, :, 0] == 0).all()
    # Pillow sees an 8-bit RGB image (high bytes only): the trap the loader avoids.
    assert Image.open(path).mode == "RGB"
    assert (root / "RGB" / "0000001.png").is_file() and (
        root / "GT" / "COLOR" / "0000001.png"
    ).is_file()
    assert (root / "Depth" / "Depth" / "0000000.png").is_file()


def test_nthu_four_cities_mixed_extensions(tmp_path):
    root = write_fixtures("nthu", tmp_path, size=SIZE)
    assert sorted(p.name for p in root.iterdir()) == ["Rio", "Rome", "Taipei", "Tokyo"]
    rio_test = sorted(p.name for p in (root / "Rio" / "Images" / "Test").iterdir())
    assert rio_test == ["pano_03575_2_0.png", "pano_03576_2_0.jpg"]
    assert all(p.suffix == ".jpg" for p in (root / "Rome" / "Images" / "Train").iterdir())
    label = Image.open(root / "Rio" / "Labels" / "Test" / "pano_03576_2_0_eval.png")
    assert label.mode == "L"
    # The 13 evaluated ids, other Cityscapes ids (-> 255) and 255 itself.
    assert set(np.unique(label)) == set(range(34)) | {255}


def test_bdd100k_masks_hold_trainids(tmp_path):
    root = write_fixtures("bdd100k", tmp_path, size=SIZE)
    images = sorted((root / "images" / "10k" / "train").iterdir())
    assert len(images) == 2 and all(len(p.stem) == 17 and p.stem[8] == "-" for p in images)
    mask = Image.open(root / "labels" / "sem_seg" / "masks" / "train" / f"{images[0].stem}.png")
    assert mask.mode == "L" and set(np.unique(mask)) == set(range(19)) | {255}
    assert (root / "labels" / "sem_seg" / "colormaps" / "train" / f"{images[0].stem}.png").is_file()


def test_samples_differ_and_unknown_dataset_is_refused(tmp_path):
    root = write_fixtures("bdd100k", tmp_path, size=SIZE)
    masks = sorted((root / "labels" / "sem_seg" / "masks" / "val").iterdir())
    assert not np.array_equal(np.asarray(Image.open(masks[0])), np.asarray(Image.open(masks[1])))
    with pytest.raises(ValueError, match="fixtures exist for"):
        write_fixtures("kitti", tmp_path)
    with pytest.raises(ValueError, match="smaller than"):
        write_fixtures("gta5", tmp_path, size=(4, 2))


# Label files of each fixture and the label map they are read with.
LABEL_FILES = {
    "gta5": ("labels/*.png", "gta5"),
    "cityscapes": ("gtFine/*/*/*_gtFine_labelIds.png", "cityscapes"),
    "synthia": ("GT/LABELS/*.png", "synthia"),
    "nthu": ("*/Labels/Test/*_eval.png", "nthu"),
    "bdd100k": ("labels/sem_seg/masks/*/*.png", "bdd100k"),
}


@pytest.mark.parametrize("name", segmentation_fixtures())
def test_fixture_labels_hold_every_id_of_their_label_map(tmp_path, name):
    # Void and rare ids (GTA5/Cityscapes 1, 2, 3, 5, 6, 10, 14, 15, 16, 18, 30) are where a
    # wrong map goes unnoticed: each must occur in the fixture.
    pattern, map_name = LABEL_FILES[name]
    root = write_fixtures(name, tmp_path, n_per_split=2, size=SIZE)
    labelmap = get_labelmap(map_name)
    files = sorted(root.glob(pattern))
    assert files
    found = set()
    for path in files:
        found |= set(np.unique(read_label_ids(str(path), labelmap)).tolist())
    assert found == set(labelmap.valid_ids)


def test_gta5_fixture_has_a_size_mismatch_pair_handled_as_documented(tmp_path):
    # datasets.md 3.5: some GTA5 labels differ in size from their image; the loader resizes the
    # label to the image with nearest neighbour (GTA5.SIZE_MISMATCH = "resize_label").
    root = write_fixtures("gta5", tmp_path, n_per_split=3, size=SIZE)
    sizes = [(Image.open(root / "images" / n).size, Image.open(root / "labels" / n).size)
             for n in ("00001.png", "00002.png", "00003.png")]
    assert sizes == [(SIZE, SIZE), (SIZE, SIZE), (SIZE, (SIZE[0], SIZE[1] - 1))]
    cls = seg_dataset_class("gta5")
    assert cls.SIZE_MISMATCH == "resize_label"
    label = cls(str(root), "train")[2]["label"].numpy()
    raw = np.asarray(Image.open(root / "labels" / "00003.png"))
    # Reference: nearest neighbour by hand (source row = floor(y * 31 / 32)), then the map.
    rows = np.arange(SIZE[1]) * raw.shape[0] // SIZE[1]
    expected = get_labelmap("gta5").lut[raw[rows]]
    assert label.shape == (SIZE[1], SIZE[0]) and (label == expected).all()
