"""Check a segmentation dataset copy and return every problem found.

Checks the layout, image counts per split (official sizes, or a declared
subset), image/label pairing, that every image file is intact, and that every
label file decodes at its real bit depth with the image's size and only valid
ids. ``harness data check`` prints the list (``harness.data.check_protocol``).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from harness.data.labelmaps import get_labelmap
from harness.data.loading import read_label_ids
from harness.data.nthu import NTHU_CITIES
from harness.data.seg_base import Problem, SegDataset, seg_dataset_class

__all__ = ["Problem", "check_dataset"]

_REPLACE = "replace the file with the one from the dataset archive"


def check_dataset(
    dataset: str,
    data_root: Path,
    splits: dict[str, int] | None = None,
    workers: int | None = None,
    only: list[str] | None = None,
    **options,
) -> list[Problem]:
    """All problems of ``dataset`` under ``data_root``; empty if the copy is sound.

    ``splits`` maps split -> declared number of images (at least that many must
    be present); ``None`` checks every split against its official size exactly.
    ``options`` are dataset constructor options (``city`` for nthu: all four
    cities when omitted; ``label_type`` for cityscapes). ``only`` restricts an
    official-size check to the splits a protocol uses. Warnings
    (``severity="warning"``) are documented properties the loader handles.
    """
    cls = seg_dataset_class(dataset)
    root = Path(data_root)
    if not root.is_dir():
        return [
            Problem(
                str(root),
                "data root does not exist",
                f"point --data-root at the {dataset} folder; expected layout:\n{cls.LAYOUT}",
            )
        ]
    declared = splits is not None
    official = {s: n for s, n in cls.SPLIT_SIZES.items() if only is None or s in only}
    wanted = official if splits is None else dict(splits)
    unknown = [s for s in wanted if s not in cls.SPLIT_SIZES]
    if unknown:
        return [
            Problem(
                str(root),
                f"unknown {dataset} split(s) {unknown}",
                f"use splits among {', '.join(cls.SPLIT_SIZES)}",
            )
        ]
    variants = [options]
    if cls.NAME == "nthu" and "city" not in options:
        variants = [dict(options, city=c) for c in NTHU_CITIES]
    problems = []
    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        for variant in variants:
            for split, count in wanted.items():
                ds = cls(root, split, lazy_init=True, **variant)
                problems += _check_split(ds, count, declared, pool)
    return problems


def _check_split(ds: SegDataset, count: int, declared: bool, pool) -> list[Problem]:
    data_list, problems = ds.scan()
    if not ds.image_dir().is_dir():
        return problems
    found = len(ds.list_images())
    where = str(ds.image_dir())
    if declared and found < count:
        problems.append(
            Problem(
                where,
                f"{found} images, fewer than the declared {count}",
                "complete the download, or declare the number present",
            )
        )
    elif not declared and found != count:
        problems.append(
            Problem(
                where,
                f"{found} images, the official {ds.split} split has {count}",
                "complete the download (or remove extra files), or declare a subset",
            )
        )
    labelmap = get_labelmap(ds.labelmap_name())
    for pair_problems in pool.map(
        lambda item: _check_pair(item, labelmap, ds.SIZE_MISMATCH), data_list
    ):
        problems += pair_problems
    return problems


def _check_pair(item: dict, labelmap, size_mismatch: str) -> list[Problem]:
    image, label = item["img_path"], item["seg_map_path"]
    try:
        with Image.open(image) as img:
            size = img.size
            img.verify()  # checksums of the compressed data, without decoding
    except (OSError, SyntaxError, ValueError) as err:
        return [Problem(image, f"image cannot be decoded ({err})", _REPLACE)]
    if label is None:
        return []
    try:
        ids = read_label_ids(label, labelmap)
        labelmap.remap(ids, label)
    except (OSError, ValueError) as err:
        return [Problem(label, str(err).removeprefix(f"{label}: "), _REPLACE)]
    height, width = ids.shape
    if (width, height) == size:
        return []
    text = f"label is {width}x{height}, its image {image} is {size[0]}x{size[1]} (WxH)"
    if size_mismatch == "resize_label":
        return [
            Problem(
                label,
                text,
                "none needed: the loader resizes the label to the image "
                "with nearest neighbour (documented policy)",
                severity="warning",
            )
        ]
    return [Problem(label, text, _REPLACE)]
