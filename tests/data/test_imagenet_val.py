import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as F

from harness.data.classes import get_classes
from harness.data.imagenet_fixtures import fixture_ground_truth, write_imagenet_val
from harness.data.imagenet_val import ImageNetLayoutError, ImageNetVal, read_leaf_synsets
from harness.protocol import load_protocol

# Sorted fixture WNIDs: n01751748 (ID 3) < n02100735 (ID 2) < n02119789 (ID 1), so the
# labels of IDs 1, 2, 3 are 2, 1, 0; an "ID - 1" loader would give 0, 1, 2 (datasets.md §14.10).
LABEL_OF_ID = {1: 2, 2: 1, 3: 0}
RANGES = {"train": [1, 4], "test": [5, 6]}


def dataset(root, split="train", **kw):
    return ImageNetVal(str(root), split, {**RANGES, **kw.pop("ranges", {})}, num_classes=3, **kw)


def labels(ds):
    return [int(ds[i]["label"]) for i in range(len(ds))]


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    return write_imagenet_val(tmp_path_factory.mktemp("flat"), 6)


def test_class_index_is_the_sorted_wnid_position_not_the_id(flat):
    expected = [LABEL_OF_ID[fixture_ground_truth(i)] for i in range(1, 5)]
    assert labels(dataset(flat)) == expected == [2, 1, 0, 2]


def test_devkit_leaf_synsets_exclude_ancestors(flat):
    leaves = read_leaf_synsets(flat / "ILSVRC2012_devkit_t12/data/meta.mat")
    assert leaves == {1: "n02119789", 2: "n02100735", 3: "n01751748"}


def test_imagenet1000_names_follow_the_sorted_wnid_index():
    names = get_classes("imagenet1000").names
    # datasets.md §12.3: sorted-WNID index of n01751748, n02100735, n02119789.
    assert len(names) == 1000
    assert (names[65], names[212], names[278]) == ("sea snake", "English setter", "kit fox")


@pytest.mark.parametrize("devkit", [True, False])
def test_folder_layout_gives_the_flat_layout_labels(tmp_path, flat, devkit):
    root = write_imagenet_val(tmp_path, 6, layout="folders", devkit=devkit)
    assert labels(dataset(root)) == labels(dataset(flat))
    assert labels(dataset(root, "test")) == labels(dataset(flat, "test"))


def test_paper_id_split_boundaries_in_both_protocols():
    # seed 003 §4: IDs 1-40,000 train, 40,001-45,000 validation, 45,001-50,000 test.
    paper = {"train": [1, 40000], "val": [40001, 45000], "test": [45001, 50000]}
    for name, camera in (("imagenet_simcam_rotation", "rotation"),
                         ("imagenet_simcam_power", "power")):
        p = load_protocol(name)
        assert p.source.options["id_ranges"] == p.target.options["id_ranges"] == paper
        assert (p.source.options["camera"], p.target.options["camera"]) == ("none", camera)
        assert p.source.test_split == p.target.test_split == "test" and p.target_labels


def test_split_ranges_are_inclusive_and_disjoint(flat):
    names = lambda ds: [path.name for path, _ in ds.samples]  # noqa: E731
    assert names(dataset(flat)) == [f"ILSVRC2012_val_{i:08d}.JPEG" for i in (1, 2, 3, 4)]
    assert names(dataset(flat, "test")) == [f"ILSVRC2012_val_{i:08d}.JPEG" for i in (5, 6)]
    with pytest.raises(ValueError, match="overlap"):
        dataset(flat, ranges={"test": [4, 6]})


def test_items_are_rgb_after_resize_and_centre_crop(flat):
    ds = dataset(flat)
    for i in range(3):  # RGB, grayscale and CMYK files
        item = ds[i]
        assert item["inputs"].shape == (3, 224, 224) and item["inputs"].dtype == torch.uint8
        assert item["label"].dtype == torch.int64


def test_camera_acts_on_the_stored_pixels_before_resizing(flat):
    ds = dataset(flat, camera="power", resize=24, crop=20)
    path, _ = ds.samples[0]
    stored = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255
    # seed 003 §5.0.2: R^0.2, G^0.3, B^0.4, stored back as 8-bit.
    powered = np.round(stored ** np.array([0.2, 0.3, 0.4]) * 255).astype(np.uint8)
    ref = torch.from_numpy(powered).permute(2, 0, 1)
    ref = F.center_crop(F.resize(ref, [24], antialias=True), [20])
    assert torch.equal(ds[0]["inputs"], ref)
    assert not torch.equal(dataset(flat, resize=24, crop=20)[0]["inputs"], ref)


def test_missing_image_is_an_error_naming_the_file(tmp_path):
    root = write_imagenet_val(tmp_path, 3)
    with pytest.raises(ImageNetLayoutError, match="ILSVRC2012_val_00000004.JPEG"):
        dataset(root)


def test_class_count_mismatch_is_an_error(flat):
    with pytest.raises(ImageNetLayoutError, match="num_classes = 1000"):
        ImageNetVal(str(flat), "train", RANGES)


def test_flat_layout_without_devkit_is_an_error(tmp_path):
    root = write_imagenet_val(tmp_path, 4, devkit=False)
    with pytest.raises(ImageNetLayoutError, match="ILSVRC2012_validation_ground_truth.txt"):
        dataset(root)


def test_bad_ground_truth_line_is_an_error(tmp_path):
    root = write_imagenet_val(tmp_path, 4)
    (root / "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt").write_text(
        "1\n2\nn02119789\n1\n")
    with pytest.raises(ImageNetLayoutError, match="line 3"):
        dataset(root)


def test_unknown_camera_names_the_known_ones(flat):
    with pytest.raises(KeyError, match="rotation"):
        dataset(flat, camera="rotate")
