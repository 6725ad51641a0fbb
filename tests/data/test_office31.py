"""Office-31 as distributed: class folders per domain, every problem named."""

import shutil

import pytest

from harness.data.classes import OFFICE31_NAMES
from harness.data.fixtures import write_fixtures
from harness.data.image_lists import ImageSetError
from harness.data.office31 import Office31


@pytest.fixture
def root(tmp_path):
    return write_fixtures("office31", tmp_path, n_per_split=1)


def test_labels_follow_the_sorted_class_folders_and_transforms_apply(root):
    train = Office31(str(root), "webcam", subset=31, augment=True, size=40, crop=32)
    test = Office31(str(root), "webcam", subset=31, size=40, crop=32)
    assert [int(test[i]["label"]) for i in range(31)] == list(range(31))
    assert sorted(OFFICE31_NAMES) == list(OFFICE31_NAMES)
    assert train[0]["inputs"].shape == test[0]["inputs"].shape == (3, 32, 32)
    assert 0.0 <= float(test[0]["inputs"].min()) and float(test[0]["inputs"].max()) <= 1.0
    assert test.fingerprint() == Office31(str(root), "webcam", subset=31).fingerprint()


def test_a_copy_of_another_size_needs_a_declared_subset(root):
    with pytest.raises(ImageSetError, match="31 images, the official count is 795"):
        Office31(str(root), "webcam")


def test_a_missing_class_folder_is_named(root):
    shutil.rmtree(root / "dslr" / "images" / "mug")
    with pytest.raises(ImageSetError) as err:
        Office31(str(root), "dslr", subset=30)
    assert [p.path for p in err.value.problems] == [str(root / "dslr" / "images" / "mug")]
    assert "missing class folder" in str(err.value)


def test_an_empty_domain_and_a_missing_domain_are_errors(root):
    for folder in (root / "amazon" / "images").iterdir():
        shutil.rmtree(folder)
    with pytest.raises(ImageSetError, match="empty domain"):
        Office31(str(root), "amazon", subset=1)
    with pytest.raises(ImageSetError, match="domain folder is not there"):
        Office31(str(root.parent / "elsewhere"), "amazon", subset=1)
