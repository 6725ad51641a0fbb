"""Raw-id -> trainId label maps of the segmentation datasets, as versioned data.

A ``LabelMap`` turns the ids stored in one dataset's label files into Cityscapes
trainIds (0..18, 255 = ignore; class names in :mod:`harness.data.classes`)
through a lookup table. Each carries a ``version`` and a ``fingerprint`` (sha256
of its canonical content) that go into result records, so a changed map can never
be mistaken for the old one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

import cv2
import numpy as np

from harness.names import check_name
from harness.utils import IGNORE_INDEX, stable_hash


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
        return stable_hash(
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


def get_labelmap(name: str) -> LabelMap:
    return _LABEL_MAPS[check_name("label map", name, _LABEL_MAPS)]


def label_maps() -> list[str]:
    return sorted(_LABEL_MAPS)
