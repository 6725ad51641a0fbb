"""GTSRB as distributed: per-class CSVs, the separate test ground truth, ROI crops."""

import numpy as np
import pytest
import torch
from PIL import Image

from harness.data.fixtures import write_fixtures
from harness.data.gtsrb import GTSRB
from harness.data.image_lists import ImageSetError


@pytest.fixture
def root(tmp_path):
    return write_fixtures("gtsrb", tmp_path, n_per_split=1)


def test_both_official_splits_read_with_their_class_ids(root):
    train, test = (GTSRB(str(root), s, subset=43) for s in ("train", "test"))
    assert [int(train[i]["label"]) for i in range(43)] == list(range(43))
    assert sorted(int(test[i]["label"]) for i in range(43)) == list(range(43))
    assert train[0]["inputs"].shape == (3, 32, 32)


def test_the_image_is_cropped_to_its_roi(root):
    path = root / "GTSRB" / "Final_Training" / "Images" / "00000" / "00000_00000.ppm"
    # a white ROI (the fixture's 5-pixel border) on black: the crop must be all white
    image = np.zeros((32, 30, 3), np.uint8)
    image[5:27, 5:25] = 255
    Image.fromarray(image).save(path)
    item = GTSRB(str(root), "train", subset=43, size=8)[0]
    assert torch.all(item["inputs"] == 1.0)


def test_csv_rows_naming_missing_files_are_each_named(root):
    folder = root / "GTSRB" / "Final_Training" / "Images"
    (folder / "00003" / "00000_00000.ppm").unlink()
    (folder / "00007" / "00000_00000.ppm").unlink()
    with pytest.raises(ImageSetError) as err:
        GTSRB(str(root), "train", subset=43)
    assert sorted(p.path for p in err.value.problems) == [
        str(folder / "00003" / "00000_00000.ppm"), str(folder / "00007" / "00000_00000.ppm")]
    assert all("listed in the annotations but missing" in p.problem for p in err.value.problems)


def test_a_class_id_that_contradicts_its_folder_and_a_missing_ground_truth(root):
    csv = root / "GTSRB" / "Final_Training" / "Images" / "00002" / "GT-00002.csv"
    csv.write_text(csv.read_text().replace(";2\n", ";9\n"))
    with pytest.raises(ImageSetError, match=r"ClassId 9, expected 2 \(its folder\)"):
        GTSRB(str(root), "train", subset=43)
    (root / "GT-final_test.csv").unlink()
    with pytest.raises(ImageSetError, match="missing annotation file"):
        GTSRB(str(root), "test", subset=43)
