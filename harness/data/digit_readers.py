"""Readers for the digit datasets in the formats they are distributed in.

Every reader returns ``(images, labels)``: float32 (N, C, H, W) in [0, 1] at the
file's own size and channels, and int64 labels 0..9. Resizing and channel
conversion belong to the protocol (``harness.data.digits.prepare_digits``).
A file that is not what its name says is an error naming the file and the fix.
"""

import bz2
import gzip
from pathlib import Path

import numpy as np

from harness.errors import HarnessError


class DigitFileError(HarnessError, ValueError):
    """A digit data file that is missing or is not in the expected format."""


def _need(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DigitFileError(
            f"{path}: missing ({what}). Run `harness data fetch --protocol P --data-root DIR` "
            "or put the file there as distributed."
        )
    return path


def _bad(path: Path, problem: str, fix: str) -> DigitFileError:
    return DigitFileError(f"{path}: {problem}; {fix}")


def _as_float(images: np.ndarray) -> np.ndarray:
    return (images.astype(np.float32) / 255.0).astype(np.float32)


def read_mnist_idx(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """MNIST as distributed: gzipped IDX files (magic 2051 images, 2049 labels)."""
    _need(images_path, "MNIST images, e.g. train-images-idx3-ubyte.gz")
    _need(labels_path, "MNIST labels, e.g. train-labels-idx1-ubyte.gz")
    images = _read_idx(images_path, magic=2051, ndim=3)
    labels = _read_idx(labels_path, magic=2049, ndim=1)
    if len(images) != len(labels):
        raise _bad(images_path, f"{len(images)} images but {labels_path.name} has "
                   f"{len(labels)} labels", "use the images and labels file of the same split")
    return _as_float(images)[:, None], labels.astype(np.int64)


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    # IDX header: big-endian int32 magic (0x0000 08 ndim for ubyte data), then ndim sizes.
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise _bad(path, f"cannot be read as {'gzip' if opener is gzip.open else 'IDX'} "
                   f"({exc})", "download the file again") from None
    found = int(np.frombuffer(raw[:4], dtype=">i4")[0]) if len(raw) >= 4 else "none"
    if found != magic or len(raw) < 4 + 4 * ndim:
        raise _bad(path, f"IDX magic number is {found}, expected {magic}",
                   "this is not an MNIST " + ("image" if magic == 2051 else "label") + " file")
    shape = tuple(int(s) for s in np.frombuffer(raw[4:4 + 4 * ndim], dtype=">i4"))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise _bad(path, f"holds {data.size} bytes of data, the header says {shape}",
                   "the file is truncated; download it again")
    return data.reshape(shape)


def read_usps_h5(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """USPS as the common HDF5 packaging: ``<split>/data`` (N, 256) in [0, 1], ``target``."""
    import h5py

    _need(path, "USPS HDF5 file usps.h5")
    try:
        with h5py.File(path, "r") as f:
            if f"{split}/data" not in f or f"{split}/target" not in f:
                raise _bad(path, f"has no datasets {split}/data and {split}/target "
                           f"(found {sorted(f.keys())})",
                           "use the usps.h5 packaging with train/ and test/ groups")
            data, target = f[f"{split}/data"][:], f[f"{split}/target"][:]
    except OSError as exc:
        raise _bad(path, f"is not an HDF5 file ({exc})", "download usps.h5 again") from None
    if data.ndim != 2 or data.shape[1] != 256:
        raise _bad(path, f"{split}/data has shape {data.shape}, expected (N, 256)",
                   "use the 16x16 USPS packaging")
    # Rows are 16x16 images in C order, values already in [0, 1] (ESL values (x + 1) / 2).
    return data.reshape(-1, 1, 16, 16).astype(np.float32), target.astype(np.int64)


def read_usps_libsvm(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """USPS as LIBSVM distributes it (``usps.bz2``/``usps.t.bz2``): labels 1..10, values in [-1, 1]."""
    _need(path, "LIBSVM USPS file usps.bz2 or usps.t.bz2")
    opener = bz2.open if path.suffix == ".bz2" else open
    labels, images = [], []
    try:
        with opener(path, "rt") as f:
            for line in f:
                fields = line.split()
                if not fields:
                    continue
                row = np.zeros(256, dtype=np.float32)
                for item in fields[1:]:
                    index, _, value = item.partition(":")
                    row[int(index) - 1] = float(value)  # LIBSVM features are 1-based
                labels.append(int(float(fields[0])))
                images.append(row)
    except (OSError, ValueError, IndexError) as exc:
        raise _bad(path, f"is not LIBSVM text ({exc})",
                   "use usps.bz2 / usps.t.bz2 from the LIBSVM multiclass page") from None
    y = np.asarray(labels, dtype=np.int64)
    if len(y) == 0 or y.min() < 1 or y.max() > 10:
        raise _bad(path, f"labels span {y.min() if len(y) else '-'}..{y.max() if len(y) else '-'}"
                   ", expected 1..10", "this is not the LIBSVM USPS file")
    x = (np.stack(images) + 1.0) / 2.0  # [-1, 1] -> [0, 1], as torchvision's USPS does
    return x.reshape(-1, 1, 16, 16).astype(np.float32), y - 1


def read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """SVHN cropped digits (``*_32x32.mat``): X (32, 32, 3, N) uint8, y (N, 1) with 10 meaning 0."""
    from scipy.io import loadmat

    _need(path, "SVHN file train_32x32.mat or test_32x32.mat")
    try:
        mat = loadmat(path)
    except Exception as exc:  # scipy raises several types for a non-MAT file
        raise _bad(path, f"is not a MATLAB file ({exc})",
                   "download the cropped-digits file (Format 2) again") from None
    if "X" not in mat or "y" not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise _bad(path, f"has no X and y arrays (found {keys})",
                   "use the SVHN Format 2 cropped digits (train_32x32.mat / test_32x32.mat), "
                   "not the Format 1 full-number files")
    x, y = mat["X"], mat["y"].reshape(-1).astype(np.int64)
    if x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y):
        raise _bad(path, f"X has shape {x.shape} for {len(y)} labels, expected (32, 32, 3, N)",
                   "use the cropped 32x32 SVHN files")
    y[y == 10] = 0  # SVHN marks the digit 0 as class 10
    return _as_float(x.transpose(3, 2, 0, 1)), y


def read_mnistm_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-M as one ``.npz``: ``images`` (N, 32, 32, 3) uint8 RGB, ``labels`` (N,)."""
    _need(path, "MNIST-M archive mnist_m_test.npz")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "images" not in z or "labels" not in z:
                raise _bad(path, f"has no images and labels arrays (found {sorted(z.files)})",
                           "use the MNIST-M npz with arrays images, labels, filenames")
            x, y = z["images"], z["labels"]
    except (OSError, ValueError) as exc:
        raise _bad(path, f"is not a NumPy .npz ({exc})", "copy the file again") from None
    if x.ndim != 4 or x.shape[-1] != 3 or len(x) != len(y):
        raise _bad(path, f"images have shape {x.shape} for {len(y)} labels, expected "
                   "(N, H, W, 3)", "use the RGB MNIST-M release")
    return _as_float(x.transpose(0, 3, 1, 2)), y.astype(np.int64)


def read_mnistm_folder(folder: Path, labels_file: Path) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-M as released: a PNG folder and a ``<name>.png <label>`` line per image."""
    from PIL import Image

    _need(labels_file, "MNIST-M labels file, e.g. mnist_m_train_labels.txt")
    if not folder.is_dir():
        raise _bad(folder, "missing (the PNG folder of this split)",
                   "unpack mnist_m.tar.gz so that the folder sits beside its labels file")
    names, labels = [], []
    for number, line in enumerate(labels_file.read_text().splitlines(), 1):
        fields = line.split()  # split on whitespace: robust to CRLF and a missing final newline
        if not fields:
            continue
        if len(fields) != 2 or not fields[1].isdigit() or not 0 <= int(fields[1]) <= 9:
            raise _bad(labels_file, f"line {number} is {line!r}, expected '<name>.png <0..9>'",
                       "use the labels file of the MNIST-M release")
        names.append(fields[0])
        labels.append(int(fields[1]))
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise _bad(folder, f"{len(missing)} image(s) named in {labels_file.name} are missing "
                   f"(first: {missing[0]})", "unpack the archive again")
    images = np.stack([np.asarray(Image.open(folder / n).convert("RGB")) for n in names])
    return _as_float(images.transpose(0, 3, 1, 2)), np.asarray(labels, dtype=np.int64)
