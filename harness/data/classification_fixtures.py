"""Tiny format-faithful copies of the classification datasets read from ``--data-root``.

Same files, folders, encodings and annotation formats as the releases (MNIST gzipped
IDX, SVHN / Syn.Digits MATLAB cropped digits with their label conventions, GTSRB
class folders of PPMs with ';'-separated CSVs and the separate test ground truth,
Syn.Signs PNGs with ``train_labelling.txt``, Office-31 JPEG class folders); images
are seeded noise and every class occurs. Counts per split (``n`` = ``n_per_split``):
digits ``n``; GTSRB ``43 n`` in each split (``n`` per class); Syn.Signs ``43 n``
lines; Office-31 ``31 n`` per domain. Protocols read them with ``options.subset``
set to those counts.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import savemat

from harness.data.classes import OFFICE31_NAMES
from harness.data.office31 import OFFICE31_COUNTS

GTSRB_CLASSES = 43


def _noise(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _idx(path: Path, magic: int, data: np.ndarray) -> None:
    header = np.array([magic, *data.shape], dtype=">i4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + data.astype(np.uint8).tobytes())


def mnist(out: Path, n: int, size=None) -> Path:
    """``train``/``t10k`` IDX pairs of ``n`` 28x28 digits each (labels cycle 0..9)."""
    root = out / "mnist"
    root.mkdir(parents=True, exist_ok=True)
    for seed, prefix in enumerate(("train", "t10k")):
        _idx(root / f"{prefix}-images-idx3-ubyte.gz", 2051, _noise(seed, (n, 28, 28)))
        _idx(root / f"{prefix}-labels-idx1-ubyte.gz", 2049, np.arange(n) % 10)
    return root


def _cropped_digits(path: Path, seed: int, labels: np.ndarray) -> None:
    # Stored as the release stores them: X (32, 32, 3, N) uint8, y (N, 1).
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"X": _noise(seed, (32, 32, 3, len(labels))),
                   "y": labels.reshape(-1, 1).astype(np.uint8)})


def svhn(out: Path, n: int, size=None) -> Path:
    """``train_32x32.mat`` / ``test_32x32.mat``; labels 1..10, 10 meaning the digit 0."""
    root = out / "svhn"
    for seed, split in enumerate(("train", "test")):
        _cropped_digits(root / f"{split}_32x32.mat", seed, np.arange(n) % 10 + 1)
    return root


def syndigits(out: Path, n: int, size=None) -> Path:
    """``synth_train_32x32.mat`` / ``synth_test_32x32.mat``; labels 0..9."""
    root = out / "syndigits"
    for seed, split in enumerate(("train", "test")):
        _cropped_digits(root / f"synth_{split}_32x32.mat", seed, np.arange(n) % 10)
    return root


def _gtsrb_rows(folder: Path, names: list[str], labels: list[int], seed: int) -> list[str]:
    """PPM images of varying size and their CSV rows (ROI a few pixels inside)."""
    rows = []
    for i, (name, label) in enumerate(zip(names, labels, strict=True)):
        width, height = 30 + i % 5, 32 + i % 3
        Image.fromarray(_noise(seed + i, (height, width, 3))).save(folder / name)
        rows.append(f"{name};{width};{height};5;5;{width - 5};{height - 5};{label}")
    return rows


def gtsrb(out: Path, n: int, size=None) -> Path:
    """Final_Training class folders with ``GT-<class>.csv``; Final_Test with ``GT-final_test.csv``."""
    root = out / "gtsrb"
    header = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"
    for c in range(GTSRB_CLASSES):
        folder = root / "GTSRB" / "Final_Training" / "Images" / f"{c:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        # <track>_<image>.ppm, as in the release
        rows = _gtsrb_rows(folder, [f"00000_{k:05d}.ppm" for k in range(n)], [c] * n, 1000 * c)
        (folder / f"GT-{c:05d}.csv").write_text("\n".join([header, *rows]) + "\n")
    test = root / "GTSRB" / "Final_Test" / "Images"
    test.mkdir(parents=True, exist_ok=True)
    count = GTSRB_CLASSES * n
    rows = _gtsrb_rows(test, [f"{i:05d}.ppm" for i in range(count)],
                       [i % GTSRB_CLASSES for i in range(count)], 99_000)
    (root / "GT-final_test.csv").write_text("\n".join([header, *rows]) + "\n")
    return root


def synsigns(out: Path, n: int, size=None) -> Path:
    """``synthetic_data/train/<i>.png`` (40x40 RGB) and ``train_labelling.txt``."""
    folder = out / "synsigns" / "synthetic_data"
    (folder / "train").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(GTSRB_CLASSES * n):
        Image.fromarray(_noise(i, (40, 40, 3))).save(folder / "train" / f"{i:05d}.png")
        lines.append(f"train/{i:05d}.png {i % GTSRB_CLASSES} 0")
    (folder / "train_labelling.txt").write_text("\n".join(lines) + "\n")
    return folder.parent


def office31(out: Path, n: int, size: tuple[int, int] = (64, 48)) -> Path:
    """``<domain>/images/<class>/frame_NNNN.jpg``, ``n`` JPEGs per class and domain."""
    root = out / "office31"
    width, height = size
    for d, domain in enumerate(OFFICE31_COUNTS):
        for c, name in enumerate(OFFICE31_NAMES):
            folder = root / domain / "images" / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(_noise(10_000 * d + 100 * c + i, (height, width, 3))).save(
                    folder / f"frame_{i + 1:04d}.jpg")
    return root
