"""Class lists and raw-id -> trainId label maps, as versioned data.

Every segmentation protocol of the harness works in the Cityscapes 19-class
trainId space (0 road ... 18 bicycle, 255 = ignore). A ``ClassList`` names a
set of those trainIds (all 19, or the SYNTHIA 16 / 13 and NTHU 13 subsets the
papers report); a ``LabelMap`` turns the ids stored in one dataset's label files
into trainIds through a lookup table. Both carry a ``version`` and a
``fingerprint`` (sha256 of their canonical content) that go into result records,
so a changed map can never be mistaken for the old one.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

import cv2
import numpy as np
from torchvision.models import VGG16_Weights

from harness.utils import IGNORE_INDEX, stable_hash


def _fingerprint(content: dict) -> str:
    return stable_hash(content)


def _unknown(kind: str, name: str, known) -> ValueError:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return ValueError(f"unknown {kind} '{name}': {hint}known: {', '.join(sorted(known))}")


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
        return _fingerprint(
            {
                "name": self.name,
                "version": self.version,
                "train_ids": list(self.train_ids),
                "names": list(self.names),
            }
        )


@dataclass(frozen=True, eq=False)
class LabelMap:
    """Raw label-file ids of one dataset -> trainIds, with how the file stores them.

    ``valid_ids`` are the values the distributed files may hold; any other value
    is an error (never silently ignored: mmseg's metric drops out-of-range ids,
    datasets.md T10). Valid ids absent from ``mapping`` become 255.
    ``bit_depth``/``channel`` say how to decode the file: 8-bit single channel
    (read with Pillow), or 16-bit multi-channel read with OpenCV
    ``IMREAD_UNCHANGED`` (BGR order) taking ``channel``.
    """

    name: str
    version: str
    mapping: MappingProxyType
    valid_ids: tuple[int, ...]
    bit_depth: int
    channel: int | None
    source: str
    lut: np.ndarray = field(init=False, repr=False)
    valid: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        size = 1 << self.bit_depth
        # Start from all-255 so unmapped ids never keep their raw value (T2).
        lut = np.full(size, IGNORE_INDEX, dtype=np.uint8)
        lut[list(self.mapping)] = list(self.mapping.values())
        valid = np.zeros(size, dtype=bool)
        valid[list(self.valid_ids)] = True
        if not valid[list(self.mapping)].all():
            raise ValueError(f"label map {self.name}: a mapped id is not in valid_ids")
        lut.setflags(write=False)
        valid.setflags(write=False)
        object.__setattr__(self, "lut", lut)
        object.__setattr__(self, "valid", valid)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.bit_depth == 8 else np.uint16)

    @cached_property
    def fingerprint(self) -> str:
        return _fingerprint(
            {
                "name": self.name,
                "version": self.version,
                "mapping": {str(k): v for k, v in sorted(self.mapping.items())},
                "valid_ids": list(self.valid_ids),
                "bit_depth": self.bit_depth,
                "channel": self.channel,
            }
        )

    def remap(self, label: np.ndarray, path: str | None = None) -> np.ndarray:
        """Map a raw id array to uint8 trainIds with one table lookup.

        Raises ValueError naming ``path`` and the offending ids if the array
        has the wrong dtype or holds ids outside ``valid_ids``.
        """
        where = path or "label array"
        if label.dtype != self.dtype:
            raise ValueError(
                f"{where}: label dtype {label.dtype}, but the {self.name} map expects "
                f"{self.bit_depth}-bit ids ({self.dtype}); decode the file at its real bit depth"
            )
        if label.dtype == np.uint8:
            # cv2.LUT is the fastest 8-bit table lookup available (see benchmarks/).
            out = cv2.LUT(label, self.lut)
            ok = cv2.LUT(label, self.valid.astype(np.uint8)).all()
        else:
            out = self.lut[label]
            ok = self.valid[label].all()
        if not ok:
            bad = np.unique(label[~self.valid[label]])
            shown = ", ".join(str(int(v)) for v in bad[:10]) + (" ..." if bad.size > 10 else "")
            raise ValueError(
                f"{where}: ids {shown} are not valid {self.name} label ids "
                f"(valid: {_ranges(self.valid_ids)}); the file is not a {self.name} label "
                f"or was decoded wrongly (wrong channel or bit depth)"
            )
        return out


def _ranges(ids: tuple[int, ...]) -> str:
    parts, start = [], None
    for i, v in enumerate(ids):
        if start is None:
            start = v
        if i + 1 == len(ids) or ids[i + 1] != v + 1:
            parts.append(str(v) if start == v else f"{start}..{v}")
            start = None
    return ", ".join(parts)


# --- class lists -------------------------------------------------------------

# mcordts/cityscapesScripts:cityscapesscripts/helpers/labels.py (trainIds 0..18);
# same tuple as open-mmlab/mmsegmentation:mmseg/datasets/cityscapes.py.
# fmt: off
CITYSCAPES19_NAMES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
    "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
    "truck", "bus", "train", "motorcycle", "bicycle",
)
# fmt: on

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
        ClassList("office31", "1", tuple(range(31)),
                  "thuml/Transfer-Learning-Library tllib/vision/datasets/office31.py",
                  OFFICE31_NAMES),
        ClassList("gtsrb43", "1", tuple(range(43)),
                  "GTSRB ClassId (Stallkamp et al. 2012); names: udacity signnames.csv",
                  GTSRB43_NAMES),
        # The 13 classes labelled in NTHU cross-city (same trainIds as synthia13).
        # joonh-kim/ETM:dataset/crosscity_dataset.py; CBST seed NTHU table header.
        ClassList(
            "nthu13",
            "1",
            (0, 1, 2, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18),
            "joonh-kim/ETM:dataset/crosscity_dataset.py id_to_trainid",
        ),
        # ILSVRC2012's 1,000 classes in sorted-WNID order, the index torchvision's ImageNet
        # weights predict (datasets.md §12.3); index 65 = sea snake = n01751748.
        ClassList(
            "imagenet1000",
            "1",
            tuple(range(1000)),
            "torchvision VGG16_Weights.IMAGENET1K_V1.meta['categories']",
            tuple(VGG16_Weights.IMAGENET1K_V1.meta["categories"]),
        ),
    )
}


def get_classes(name: str) -> ClassList:
    try:
        return _CLASS_LISTS[name]
    except KeyError:
        raise _unknown("class list", name, _CLASS_LISTS) from None


def class_lists() -> list[str]:
    return sorted(_CLASS_LISTS)


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
        raise ValueError(
            f"class list {subset_name} has trainIds {missing} that are not in {classes_name}"
        )
    return [classes.train_ids.index(i) for i in subset.train_ids]


# --- label maps --------------------------------------------------------------

# Cityscapes labelId -> trainId: mcordts/cityscapesScripts:cityscapesscripts/helpers/labels.py.
# Identical dict in wasidennis/AdaptSegNet:dataset/gta5_dataset.py, valeoai/ADVENT:
# advent/dataset/gta5.py and lhoyer/DAFormer:tools/convert_datasets/gta.py.
# fmt: off
CITYSCAPES_ID_TO_TRAINID = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}
# fmt: on

# SYNTHIA-RAND-CITYSCAPES class id (README.txt table, ids 0..22) -> trainId.
# lhoyer/DAFormer:tools/convert_datasets/synthia.py ("mapping based on README.txt"),
# same dict in valeoai/ADVENT:advent/dataset/synthia.py. 16 terrain, 18 truck and
# 20 train never occur in the data but are mapped as the README names them.
# fmt: off
SYNTHIA_ID_TO_TRAINID = {
    3: 0, 4: 1, 2: 2, 21: 3, 5: 4, 7: 5, 15: 6, 9: 7, 6: 8, 16: 9,
    1: 10, 10: 11, 17: 12, 8: 13, 18: 14, 19: 15, 20: 16, 12: 17, 11: 18,
}
# fmt: on

# NTHU _eval.png holds Cityscapes labelIds; only the 13 evaluated ids are kept, every
# other value -> 255, even ids Cityscapes would map (12 wall, 22 terrain, ...).
# joonh-kim/ETM:dataset/crosscity_dataset.py maps the same 13 ids to a compact index;
# composing it with nthu13's trainIds gives this dict.
# fmt: off
NTHU_ID_TO_TRAINID = {
    7: 0, 8: 1, 11: 2, 19: 6, 20: 7, 21: 8, 23: 10, 24: 11, 25: 12, 26: 13,
    28: 15, 32: 17, 33: 18,
}
# fmt: on

_TRAIN_IDS = tuple(range(19)) + (IGNORE_INDEX,)

_LABEL_MAPS = {
    m.name: m
    for m in (
        # gtFine_labelIds.png: 8-bit L, labelIds 0..33 (license plate -1 is never rasterised,
        # cityscapesscripts/preparation/json2labelImg.py).
        LabelMap(
            "cityscapes",
            "1",
            MappingProxyType(CITYSCAPES_ID_TO_TRAINID),
            tuple(range(34)),
            8,
            None,
            "mcordts/cityscapesScripts:cityscapesscripts/helpers/labels.py",
        ),
        # gtFine_labelTrainIds.png (createTrainIdLabelImgs.py): already trainIds, never
        # map again (datasets.md T11).
        LabelMap(
            "cityscapes_trainids",
            "1",
            MappingProxyType({i: i for i in range(19)}),
            _TRAIN_IDS,
            8,
            None,
            "mcordts/cityscapesScripts:cityscapesscripts/preparation/createTrainIdLabelImgs.py",
        ),
        # GTA5 labels: 8-bit palette PNG whose indices are Cityscapes labelIds 0..33; 34
        # (license plate) is listed by kgl-prml/Pixel-Level-Cycle-Association:data/label_map.py.
        LabelMap(
            "gta5",
            "1",
            MappingProxyType(CITYSCAPES_ID_TO_TRAINID),
            tuple(range(35)),
            8,
            None,
            "wasidennis/AdaptSegNet:dataset/gta5_dataset.py id_to_trainid",
        ),
        # GT/LABELS: 16-bit 3-channel PNG, class id in the first (R) channel = index 2 of
        # OpenCV's BGR array (lhoyer/DAFormer:tools/convert_datasets/synthia.py [:, :, -1]).
        LabelMap(
            "synthia",
            "1",
            MappingProxyType(SYNTHIA_ID_TO_TRAINID),
            tuple(range(23)),
            16,
            2,
            "lhoyer/DAFormer:tools/convert_datasets/synthia.py id_to_trainid",
        ),
        # Valid values: Cityscapes labelIds plus 255, because the value the NTHU files use for
        # unlabelled pixels is not documented (datasets.md section 15).
        LabelMap(
            "nthu",
            "1",
            MappingProxyType(NTHU_ID_TO_TRAINID),
            tuple(range(34)) + (IGNORE_INDEX,),
            8,
            None,
            "joonh-kim/ETM:dataset/crosscity_dataset.py id_to_trainid",
        ),
        # labels/sem_seg/masks: 8-bit, already trainIds 0..18, 255 = unknown
        # (bdd100k/bdd100k:doc/source/format.rst); identity, anything else is an error.
        LabelMap(
            "bdd100k",
            "1",
            MappingProxyType({i: i for i in range(19)}),
            _TRAIN_IDS,
            8,
            None,
            "bdd100k/bdd100k:doc/source/format.rst",
        ),
    )
}


def get_labelmap(dataset_name: str) -> LabelMap:
    try:
        return _LABEL_MAPS[dataset_name]
    except KeyError:
        raise _unknown("label map", dataset_name, _LABEL_MAPS) from None


def label_maps() -> list[str]:
    return sorted(_LABEL_MAPS)
