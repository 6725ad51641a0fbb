"""Class lists: named, ordered sets of trainIds with their class names, as versioned data.

Every segmentation protocol of the harness works in the Cityscapes 19-class
trainId space (0 road ... 18 bicycle, 255 = ignore). A ``ClassList`` names a
set of those trainIds (all 19, or the SYNTHIA 16 / 13 and NTHU 13 subsets the
papers report), or a class list outside that space (digits, ImageNet). Each
carries a ``version`` and a ``fingerprint`` (sha256 of its canonical content)
that go into result records, so a changed list can never be mistaken for the old one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from harness.errors import DataError
from harness.names import check_name
from harness.utils import stable_hash


@dataclass(frozen=True)
class ClassList:
    """Named, ordered trainIds of the 19-way space with their class names."""

    name: str
    version: str
    train_ids: tuple[int, ...]
    source: str
    #: Names of a class list outside the Cityscapes space (e.g. digits); empty
    #: means the Cityscapes names of ``train_ids``.
    label_names: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        if self.label_names:
            return self.label_names
        return tuple(CITYSCAPES19_NAMES[i] for i in self.train_ids)

    @cached_property
    def fingerprint(self) -> str:
        return stable_hash(
            {
                "name": self.name,
                "version": self.version,
                "train_ids": list(self.train_ids),
                "names": list(self.names),
            }
        )


# mcordts/cityscapesScripts:cityscapesscripts/helpers/labels.py (trainIds 0..18);
# same tuple as open-mmlab/mmsegmentation:mmseg/datasets/cityscapes.py.
# fmt: off
CITYSCAPES19_NAMES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
    "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
    "truck", "bus", "train", "motorcycle", "bicycle",
)
# fmt: on

# fmt: off
# Office-31's class folders in sorted order, the label index of TLlib
# (thuml/Transfer-Learning-Library tllib/vision/datasets/office31.py CLASSES).
# fmt: off
OFFICE31_NAMES = (
    "back_pack", "bike", "bike_helmet", "bookcase", "bottle", "calculator", "desk_chair",
    "desk_lamp", "desktop_computer", "file_cabinet", "headphones", "keyboard",
    "laptop_computer", "letter_tray", "mobile_phone", "monitor", "mouse", "mug",
    "paper_notebook", "pen", "phone", "printer", "projector", "punchers", "ring_binder",
    "ruler", "scissors", "speaker", "stapler", "tape_dispenser", "trash_can",
)
# GTSRB ClassId 0..42 (Stallkamp et al. 2012), named as in the signnames.csv that ships
# with udacity/CarND-Traffic-Sign-Classifier-Project; Syn.Signs uses the same ids.
GTSRB43_NAMES = (
    "speed limit 20", "speed limit 30", "speed limit 50", "speed limit 60",
    "speed limit 70", "speed limit 80", "end of speed limit 80", "speed limit 100",
    "speed limit 120", "no passing", "no passing over 3.5t", "right-of-way at intersection",
    "priority road", "yield", "stop", "no vehicles", "over 3.5t prohibited", "no entry",
    "general caution", "curve left", "curve right", "double curve", "bumpy road",
    "slippery road", "road narrows right", "road work", "traffic signals", "pedestrians",
    "children crossing", "bicycles crossing", "ice/snow", "wild animals crossing",
    "end of all limits", "turn right ahead", "turn left ahead", "ahead only",
    "straight or right", "straight or left", "keep right", "keep left", "roundabout",
    "end of no passing", "end of no passing over 3.5t",
)
# fmt: on

_CLASS_LISTS = {
    c.name: c
    for c in (
        ClassList(
            "cityscapes19",
            "1",
            tuple(range(19)),
            "mcordts/cityscapesScripts:cityscapesscripts/helpers/labels.py",
        ),
        # Drops terrain(9), truck(14), train(16), which SYNTHIA never labels.
        # ZJULearning/MaxSquareLoss:utils/eval.py synthia_set_16; CBST seed table (16 columns).
        ClassList(
            "synthia16",
            "1",
            (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18),
            "ZJULearning/MaxSquareLoss:utils/eval.py synthia_set_16",
        ),
        # synthia16 minus wall(3), fence(4), pole(5): the "mIoU*" of the SYNTHIA papers.
        # ZJULearning/MaxSquareLoss:utils/eval.py synthia_set_13; yzou2/CBST#7.
        ClassList(
            "synthia13",
            "1",
            (0, 1, 2, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18),
            "ZJULearning/MaxSquareLoss:utils/eval.py synthia_set_13",
        ),
        # The ten digits of every digits protocol (MNIST, USPS, SVHN, MNIST-M, optdigits).
        ClassList(
            "digits10",
            "1",
            tuple(range(10)),
            "LeCun et al. 1998: MNIST labels are the digits 0..9",
            tuple(str(d) for d in range(10)),
        ),
        # The 13 classes labelled in NTHU cross-city (same trainIds as synthia13).
        # joonh-kim/ETM:dataset/crosscity_dataset.py; CBST seed NTHU table header.
        ClassList(
            "nthu13",
            "1",
            (0, 1, 2, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18),
            "joonh-kim/ETM:dataset/crosscity_dataset.py id_to_trainid",
        ),
        ClassList("office31", "1", tuple(range(31)),
                  "thuml/Transfer-Learning-Library tllib/vision/datasets/office31.py",
                  OFFICE31_NAMES),
        ClassList("gtsrb43", "1", tuple(range(43)),
                  "GTSRB ClassId (Stallkamp et al. 2012); names: udacity signnames.csv",
                  GTSRB43_NAMES),
    )
}


@functools.cache
def _imagenet1000() -> ClassList:
    # ILSVRC2012's 1,000 classes in sorted-WNID order, the index torchvision's ImageNet
    # weights predict (datasets.md §12.3); index 65 = sea snake = n01751748. Imported
    # here, not at module level: torchvision.models costs seconds to import and only the
    # ImageNet protocols need these names.
    from torchvision.models import VGG16_Weights

    return ClassList(
        "imagenet1000",
        "1",
        tuple(range(1000)),
        "torchvision VGG16_Weights.IMAGENET1K_V1.meta['categories']",
        tuple(VGG16_Weights.IMAGENET1K_V1.meta["categories"]),
    )


# Class lists whose names come from a package that is slow to import, built on first use.
_LAZY_CLASS_LISTS: dict[str, Callable[[], ClassList]] = {"imagenet1000": _imagenet1000}


def get_classes(name: str) -> ClassList:
    check_name("class list", name, class_lists())
    if name in _LAZY_CLASS_LISTS:
        return _LAZY_CLASS_LISTS[name]()
    return _CLASS_LISTS[name]


def class_lists() -> list[str]:
    return sorted([*_CLASS_LISTS, *_LAZY_CLASS_LISTS])


def subset_indices(subset_name: str, classes_name: str = "cityscapes19") -> list[int]:
    """Positions in ``classes_name`` of the classes of ``subset_name``.

    ``"all"`` means every class of ``classes_name``. With the 19-way list the
    positions are the trainIds, e.g. synthia13 -> [0, 1, 2, 6, ...].
    """
    classes = get_classes(classes_name)
    if subset_name == "all":
        return list(range(len(classes.train_ids)))
    subset = get_classes(subset_name)
    missing = [i for i in subset.train_ids if i not in classes.train_ids]
    if missing:
        raise DataError(
            f"class list {subset_name} has trainIds {missing} that are not in {classes_name}"
        )
    return [classes.train_ids.index(i) for i in subset.train_ids]


