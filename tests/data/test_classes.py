"""Class lists against the tables of the papers and their code."""

import sys

import pytest

from harness.data import classes
from harness.data.classes import class_lists, get_classes, subset_indices
from harness.names import UnknownNameError

# fmt: off
NTHU13_NAMES = ("road", "sidewalk", "building", "traffic light", "traffic sign", "vegetation",
                "sky", "person", "rider", "car", "bus", "motorcycle", "bicycle")
# Column headers of the CBST seed's SYNTHIA table; starred ones are not in the 13.
SYNTHIA16_NAMES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
                   "traffic sign", "vegetation", "sky", "person", "rider", "car", "bus",
                   "motorcycle", "bicycle")
# fmt: on


def test_class_lists_names_and_subsets():
    assert get_classes("cityscapes19").names[18] == "bicycle"
    assert get_classes("synthia16").names == SYNTHIA16_NAMES
    assert get_classes("synthia13").names == NTHU13_NAMES
    assert get_classes("nthu13").names == NTHU13_NAMES
    assert subset_indices("synthia13") == [0, 1, 2, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18]
    assert subset_indices("all") == list(range(19))
    # ZJULearning/MaxSquareLoss:utils/eval.py synthia_set_16_to_13.
    assert subset_indices("synthia13", "synthia16") == [0, 1, 2, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    with pytest.raises(ValueError, match="not in synthia13"):
        subset_indices("synthia16", "synthia13")


def test_fingerprints_are_distinct_and_content_sensitive():
    prints = {get_classes(n).fingerprint for n in class_lists()}
    assert len(prints) == len(class_lists())
    nthu = get_classes("nthu13")
    assert nthu.train_ids == get_classes("synthia13").train_ids
    bumped = classes.ClassList("nthu13", "2", nthu.train_ids, nthu.source)
    assert len(nthu.fingerprint) == 64 and bumped.fingerprint != nthu.fingerprint


def test_imagenet_names_come_from_torchvision_only_when_asked_for(monkeypatch):
    # torchvision.models is slow to import: only the imagenet1000 list may need it.
    monkeypatch.setitem(sys.modules, "torchvision.models", None)  # any import of it fails
    classes._imagenet1000.cache_clear()
    assert "imagenet1000" in class_lists()
    assert get_classes("cityscapes19").names[0] == "road"
    assert subset_indices("nthu13") == list(get_classes("nthu13").train_ids)
    with pytest.raises(ImportError):
        get_classes("imagenet1000")
    monkeypatch.undo()
    imagenet = get_classes("imagenet1000")
    assert len(imagenet.names) == 1000 and imagenet.names[65] == "sea snake"


def test_unknown_class_list_lists_the_closest_names():
    with pytest.raises(UnknownNameError, match="unknown class list 'cityscape19'. Did you mean "
                                               "'cityscapes19'"):
        get_classes("cityscape19")
    with pytest.raises(KeyError, match="Known class lists: cityscapes19, digits10, gtsrb43, imagenet1000"):
        subset_indices("synthia14")
