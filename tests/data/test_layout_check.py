"""check_dataset returns every problem of a dataset copy, not just the first."""

import cv2
import numpy as np
import pytest
from PIL import Image

from harness.data.fixtures import fixture_splits, segmentation_fixtures, write_fixtures
from harness.data.layout_check import Problem, check_dataset

SIZE = (64, 32)


@pytest.mark.parametrize("name", segmentation_fixtures())
def test_fixtures_are_clean_at_their_declared_size(tmp_path, name):
    root = write_fixtures(name, tmp_path, n_per_split=2, size=SIZE)
    problems = check_dataset(name, root, fixture_splits(name, 2))
    if name == "gta5":  # the fixture's last frame has a shorter label, as real GTA5 frames do
        (problem,) = problems
        assert problem.severity == "warning" and problem.path.endswith("labels/00002.png")
    else:
        assert problems == []


def test_official_sizes_are_enforced(tmp_path):
    root = write_fixtures("gta5", tmp_path, n_per_split=2, size=SIZE)
    errors = [p for p in check_dataset("gta5", root) if p.severity == "error"]
    assert [(p.path, p.problem) for p in errors] == [
        (str(root / "images"), "2 images, the official train split has 24966")
    ]
    problems = check_dataset("gta5", root, {"train": 3})
    assert problems[0].problem == "2 images, fewer than the declared 3"


def test_nthu_checks_every_city_or_the_one_named(tmp_path):
    root = write_fixtures("nthu", tmp_path, n_per_split=1, size=SIZE)
    (root / "Tokyo" / "Labels" / "Test" / "pano_03575_2_0_eval.png").unlink()
    problems = check_dataset("nthu", root, {"test": 1})
    assert len(problems) == 1 and "Tokyo/Images/Test/pano_03575_2_0.png" in problems[0].path
    assert check_dataset("nthu", root, {"test": 1}, city="Rome") == []


def test_every_problem_is_reported(tmp_path):
    root = write_fixtures("cityscapes", tmp_path, n_per_split=5, size=SIZE)
    val_gt = root / "gtFine" / "val"
    labels = sorted(val_gt.glob("*/*_gtFine_labelIds.png"))
    images = sorted((root / "leftImg8bit" / "val").glob("*/*_leftImg8bit.png"))
    labels[0].unlink()  # missing label
    data = labels[1].read_bytes()
    labels[1].write_bytes(data[: len(data) // 2])  # corrupt label
    ids = np.asarray(Image.open(labels[2])).copy()
    ids[3, 3] = 77
    Image.fromarray(ids, mode="L").save(labels[2])  # id outside the map
    Image.new("RGB", (32, 32)).save(images[3])  # size mismatch
    Image.fromarray(np.zeros((32, 64, 3), np.uint8)).save(labels[4])  # colour image, not ids
    problems = check_dataset("cityscapes", root, {"train": 5, "val": 5})
    by_path = {p.path: p for p in problems}
    assert len(problems) == 5 and all(p.severity == "error" for p in problems)
    assert "no label file" in by_path[str(images[0])].problem
    assert "cannot decode" in by_path[str(labels[1])].problem
    assert "ids 77 are not valid cityscapes" in by_path[str(labels[2])].problem
    assert "label is 64x32, its image" in by_path[str(labels[3])].problem
    assert "Pillow mode 'RGB'" in by_path[str(labels[4])].problem
    assert all(p.fix for p in problems)


def test_gta5_size_mismatch_is_a_warning(tmp_path):
    root = write_fixtures("gta5", tmp_path, n_per_split=3, size=SIZE)
    Image.new("RGB", (66, 32)).save(root / "images" / "00001.png")
    problems = check_dataset("gta5", root, {"train": 3})
    assert [p.path for p in problems] == [str(root / "labels" / n) for n in ("00001.png",
                                                                             "00003.png")]
    assert all(p.severity == "warning" and "nearest neighbour" in p.fix for p in problems)
    assert "label is 64x32, its image" in problems[0].problem
    assert "label is 64x31, its image" in problems[1].problem


def test_synthia_8bit_labels_and_orphans(tmp_path):
    root = write_fixtures("synthia", tmp_path, n_per_split=2, size=SIZE)
    label = root / "GT" / "LABELS" / "0000001.png"
    cv2.imwrite(str(label), np.zeros((32, 64, 3), np.uint8))
    (root / "RGB" / "0000000.png").unlink()
    problems = check_dataset("synthia", root, {"train": 2})
    by_path = {p.path: p for p in problems}
    assert len(problems) == 3
    assert by_path[str(root / "RGB")].problem == "1 images, fewer than the declared 2"
    assert "8-bit" in by_path[str(label)].problem
    orphan = by_path[str(root / "GT" / "LABELS" / "0000000.png")]
    assert orphan.severity == "warning" and orphan.problem == "label file without an image"


def test_missing_root_and_unknown_split(tmp_path):
    (problem,) = check_dataset("bdd100k", tmp_path / "nowhere")
    assert isinstance(problem, Problem) and "images/10k/{train,val,test}" in problem.fix
    (problem,) = check_dataset("bdd100k", tmp_path, {"training": 1})
    assert "unknown bdd100k split" in problem.problem
    root = write_fixtures("bdd100k", tmp_path, n_per_split=1, size=SIZE)
    problems = check_dataset("bdd100k", root, {"test": 1})
    assert problems[0].problem == "folder does not exist" and "images/10k/test" in problems[0].path
