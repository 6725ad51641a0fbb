"""Tiny format-faithful copies of the segmentation datasets (datasets.md section 14).

Real folder layouts and file names, real label encodings (GTA5 palette PNG,
Cityscapes 8-bit labelIds, SYNTHIA 16-bit 3-channel PNG with instance ids >= 256
in G, NTHU 8-bit ``_eval.png``, BDD100K 8-bit trainIds), plus the decoy files that
must not be read as labels. Images are seeded noise. Each label is a small id
grid stretched to the image size; the grids hold every class, ignore ids, ids
outside the evaluated subset, and id pairs that expose chained remapping (T1);
GTA5, Cityscapes and NTHU labels also carry the ids their grid lacks in their last
pixel row, so every fixture holds every id of its label map. The last GTA5 frame's
label is one row shorter than its image, as some real frames are.
Sample ``i`` rolls the grid by ``i`` columns so samples differ.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from harness.data import classification_fixtures
from harness.data.nthu import NTHU_CITIES

# Raw label grids (rows top to bottom), datasets.md 14.1-14.5.
# fmt: off
CITYSCAPES_GRID = np.array([
    [0, 1, 4, 7, 8, 9],
    [11, 12, 13, 17, 19, 20],
    [21, 22, 23, 24, 25, 26],
    [27, 28, 29, 31, 32, 33],
], dtype=np.uint8)
# GTA5: one ignore cell replaced by 34 (license plate, must become 255).
GTA5_GRID = np.where(CITYSCAPES_GRID == 1, 34, CITYSCAPES_GRID).astype(np.uint8)
# The labelIds the grids above lack: void and rare classes (ego vehicle, rectification
# border, out of roi, dynamic, ground, rail track, guard rail, bridge, tunnel, polegroup,
# trailer), all mapped to 255. They fill the last pixel row of every label, where ego
# vehicle and rectification border sit in real frames; with them each fixture holds every
# id of its label map (checked by the tests).
CITYSCAPES_EDGE = np.array([2, 3, 5, 6, 10, 14, 15, 16, 18, 30], dtype=np.uint8)
GTA5_EDGE = np.array([1, 2, 3, 5, 6, 10, 14, 15, 16, 18, 30], dtype=np.uint8)
# NTHU files may hold any Cityscapes labelId (all but the 13 evaluated become 255).
NTHU_EDGE = np.array([1, 2, 3, 4, 5, 6, 9, 10, 13, 14, 15, 16, 18, 29, 30], dtype=np.uint8)
SYNTHIA_GRID = np.array([
    [0, 1, 2, 3, 4, 5],
    [6, 7, 8, 9, 10, 11],
    [12, 13, 14, 15, 16, 17],
    [18, 19, 20, 21, 22, 3],
], dtype=np.uint16)
# Last row and the 12: Cityscapes ids outside the NTHU 13 (must become 255).
NTHU_GRID = np.array([
    [7, 8, 11, 19, 20],
    [21, 23, 24, 25, 26],
    [28, 32, 33, 0, 12],
    [22, 27, 31, 17, 255],
], dtype=np.uint8)
BDD100K_GRID = np.array([
    [0, 1, 2, 3, 4],
    [5, 6, 7, 8, 9],
    [10, 11, 12, 13, 14],
    [15, 16, 17, 18, 255],
], dtype=np.uint8)
# fmt: on

# Cityscapes colours by labelId 0..33 (cityscapesscripts/helpers/labels.py): the
# palette of GTA5 label PNGs and the colours of the gtFine_color.png decoys.
# fmt: off
CITYSCAPES_COLORS = (
    (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (111, 74, 0), (81, 0, 81),
    (128, 64, 128), (244, 35, 232), (250, 170, 160), (230, 150, 140), (70, 70, 70),
    (102, 102, 156), (190, 153, 153), (180, 165, 180), (150, 100, 100), (150, 120, 90),
    (153, 153, 153), (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35),
    (152, 251, 152), (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70),
    (0, 60, 100), (0, 0, 90), (0, 0, 110), (0, 80, 100), (0, 0, 230), (119, 11, 32),
)
# fmt: on


def stretch(grid: np.ndarray, size: tuple[int, int], roll: int = 0) -> np.ndarray:
    """``grid`` rolled by ``roll`` columns and stretched to ``size`` = (W, H); cell
    (r, c) covers the pixels with ``y * rows // H == r`` and ``x * cols // W == c``."""
    width, height = size
    rows, cols = grid.shape
    if width < cols or height < rows:
        raise ValueError(f"fixture size {size} is smaller than the {cols}x{rows} label grid")
    g = np.roll(grid, roll, axis=1)
    return g[
        (np.arange(height) * rows // height)[:, None], (np.arange(width) * cols // width)[None, :]
    ]


def with_edge(grid: np.ndarray, edge: np.ndarray, size: tuple[int, int], roll: int = 0):
    """``stretch(grid, size, roll)`` with ``edge`` stretched over its last pixel row."""
    width, height = size
    if height <= grid.shape[0] or width < len(edge):
        raise ValueError(f"fixture size {size} is smaller than the {grid.shape[1]}x"
                         f"{grid.shape[0]} label grid plus a row of {len(edge)} edge ids")
    ids = stretch(grid, size, roll)
    ids[-1] = stretch(edge[None], (width, 1), roll)[0]
    return ids


def _noise(seed: int, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _save_rgb(path: Path, seed: int, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_noise(seed, size)).save(path)


def _save_gray(path: Path, ids: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(ids.astype(np.uint8), mode="L").save(path)


def _colorize(ids: np.ndarray) -> np.ndarray:
    colors = np.zeros((256, 3), dtype=np.uint8)
    colors[: len(CITYSCAPES_COLORS)] = CITYSCAPES_COLORS
    return colors[ids]


def _gta5(out: Path, n: int, size: tuple[int, int]) -> Path:
    """The last frame's label is one row shorter than its image: real GTA5 has such
    pairs (datasets.md 3.5), which the loader resizes (``GTA5.SIZE_MISMATCH``)."""
    root = out / "gta5"
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[: len(CITYSCAPES_COLORS)] = CITYSCAPES_COLORS
    width, height = size
    for i in range(n):
        name = f"{i + 1:05d}.png"
        _save_rgb(root / "images" / name, i, size)
        label_size = (width, height - 1) if i == n - 1 else size
        label = Image.fromarray(with_edge(GTA5_GRID, GTA5_EDGE, label_size, i), mode="P")
        label.putpalette(palette.ravel().tolist())
        (root / "labels").mkdir(parents=True, exist_ok=True)
        label.save(root / "labels" / name)
    return root


def _cityscapes(out: Path, n: int, size: tuple[int, int]) -> Path:
    root = out / "cityscapes"
    cities = {"train": ("aachen", "bochum"), "val": ("frankfurt", "lindau", "munster")}
    width, height = size
    for split, names in cities.items():
        for i in range(n):
            city = names[i % len(names)]
            stem = f"{city}_{i:06d}_000019"
            _save_rgb(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", i, size)
            gt = root / "gtFine" / split / city
            ids = with_edge(CITYSCAPES_GRID, CITYSCAPES_EDGE, size, i)
            _save_gray(gt / f"{stem}_gtFine_labelIds.png", ids)
            # instanceIds: labelId * 1000 + k for instance classes (24..33), else labelId.
            instances = np.where(ids >= 24, ids.astype(np.uint16) * 1000 + 1, ids).astype(np.uint16)
            cv2.imwrite(str(gt / f"{stem}_gtFine_instanceIds.png"), instances)
            rgba = np.dstack([_colorize(ids), np.full(ids.shape, 255, np.uint8)])
            Image.fromarray(rgba, mode="RGBA").save(gt / f"{stem}_gtFine_color.png")
            (gt / f"{stem}_gtFine_polygons.json").write_text(
                json.dumps({"imgHeight": height, "imgWidth": width, "objects": []})
            )
    return root


def _synthia(out: Path, n: int, size: tuple[int, int]) -> Path:
    root = out / "RAND_CITYSCAPES"
    width, height = size
    for i in range(n):
        name = f"{i:07d}.png"
        _save_rgb(root / "RGB" / name, i, size)
        classes = stretch(SYNTHIA_GRID, size, i)
        # G = instance ids >= 256, so reading G, or only the high bytes, gives other values.
        instances = (256 + np.arange(height * width, dtype=np.uint16)).reshape(height, width)
        bgr = np.dstack([np.zeros_like(classes), instances, classes])
        for folder in ("GT/LABELS", "GT/COLOR", "Depth/Depth"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "GT" / "LABELS" / name), bgr)
        Image.fromarray(_noise(1000 + i, size)).save(root / "GT" / "COLOR" / name)
        cv2.imwrite(str(root / "Depth" / "Depth" / name), (bgr * 7).astype(np.uint16))
    return root


def _nthu(out: Path, n: int, size: tuple[int, int]) -> Path:
    root = out / "NTHU_Datasets"
    for c, city in enumerate(NTHU_CITIES):
        for i in range(n):
            seed = 100 * c + i
            _save_rgb(root / city / "Images" / "Train" / f"pano_{i:05d}_0_180.jpg", seed, size)
            # Rio's test images mix .png and .jpg (joonh-kim/ETM:dataset/rio_list/test.txt).
            ext = ".jpg" if city == "Rio" and i == n - 1 else ".png"
            stem = f"pano_{3575 + i:05d}_2_0"
            _save_rgb(root / city / "Images" / "Test" / f"{stem}{ext}", seed + 50, size)
            _save_gray(
                root / city / "Labels" / "Test" / f"{stem}_eval.png",
                with_edge(NTHU_GRID, NTHU_EDGE, size, i),
            )
    return root


def _bdd100k(out: Path, n: int, size: tuple[int, int]) -> Path:
    root = out / "bdd100k"
    for split in ("train", "val"):
        # Sorted, so that sample i is also the i-th file in loader order.
        names = sorted(
            f"{zlib.crc32(f'{split}{i}'.encode()):08x}-{zlib.crc32(f'{i}'.encode()):08x}"
            for i in range(n)
        )
        for i, name in enumerate(names):
            _save_rgb(root / "images" / "10k" / split / f"{name}.jpg", i, size)
            ids = stretch(BDD100K_GRID, size, i)
            _save_gray(root / "labels" / "sem_seg" / "masks" / split / f"{name}.png", ids)
            colormap = root / "labels" / "sem_seg" / "colormaps" / split / f"{name}.png"
            colormap.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(_colorize(ids)).save(colormap)
    return root


_WRITERS: dict[str, Callable[[Path, int, tuple[int, int]], Path]] = {
    "bdd100k": _bdd100k,
    "cityscapes": _cityscapes,
    "gta5": _gta5,
    "nthu": _nthu,
    "synthia": _synthia,
    # Classification datasets read from --data-root (their counts: classification_fixtures).
    "gtsrb": classification_fixtures.gtsrb,
    "mnist": classification_fixtures.mnist,
    "office31": classification_fixtures.office31,
    "svhn": classification_fixtures.svhn,
    "syndigits": classification_fixtures.syndigits,
    "synsigns": classification_fixtures.synsigns,
}

# Splits each fixture writes (n_per_split images each; NTHU: per city).
_FIXTURE_SPLITS = {
    "bdd100k": ("train", "val"),
    "cityscapes": ("train", "val"),
    "gta5": ("train",),
    "nthu": ("train", "test"),
    "synthia": ("train",),
}


def fixture_datasets() -> list[str]:
    return sorted(_WRITERS)


def segmentation_fixtures() -> list[str]:
    """The segmentation datasets among :func:`fixture_datasets` (what ``check_dataset`` reads)."""
    return sorted(_FIXTURE_SPLITS)


def fixture_splits(dataset: str, n_per_split: int = 2) -> dict[str, int]:
    """Split sizes of a fixture, to declare to ``check_dataset``."""
    return {split: n_per_split for split in _FIXTURE_SPLITS[_check_name(dataset)]}


def _check_name(dataset: str) -> str:
    if dataset not in _WRITERS:
        raise ValueError(
            f"no fixture for '{dataset}': fixtures exist for {', '.join(fixture_datasets())}"
        )
    return dataset


def write_fixtures(
    dataset: str, out: Path, n_per_split: int = 2, size: tuple[int, int] = (64, 32)
) -> Path:
    """Write a tiny copy of ``dataset`` under ``out``; return its data root.

    ``size`` is (W, H) of every image and label.
    """
    if n_per_split < 1:
        raise ValueError(f"n_per_split must be >= 1, not {n_per_split}")
    return _WRITERS[_check_name(dataset)](Path(out), n_per_split, tuple(size))
