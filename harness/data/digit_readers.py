"""Readers for the digit datasets in the formats they are distributed in.

Every reader returns ``(images, labels)``: float32 (N, C, H, W) in [0, 1] at the
file's own size and channels, and int64 labels 0..9. Resizing and channel
conversion belong to the protocol (``harness.data.digits``).

Before converting, every reader checks what it read against its format's
:class:`DigitFormat` with :func:`validate`: the shape of each image, one label per
image, the stored dtype, finite pixel values in the format's range, labels in the
format's range, and the official number of images of the split (or at least a
declared ``subset``). ``harness data check`` and the loaders read through these
same functions, so a file the check passes is a file the loader accepts. Every
problem is a :class:`DigitFileError` naming the file, the value and the fix.
"""

import bz2
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.data.seg_base import Problem, ProblemsError


class DigitFileError(ProblemsError):
    """A digit data file that is missing or does not hold what its format says.

    ``problems`` lists each finding (file, what is wrong, the fix), one table row
    each in ``harness data check``.
    """


@dataclass(frozen=True)
class DigitFormat:
    """What one distributed digit format holds, as stored (datasets.md sections 8-11)."""

    name: str
    #: One image as stored, with the image axis moved first.
    image_shape: tuple[int, ...]
    #: "uint8" (8-bit pixels) or "float" (any float dtype, values in ``pixel_range``).
    dtype: str
    pixel_range: tuple[float, float]
    label_range: tuple[int, int]
    #: Official number of images per split.
    counts: dict[str, int]
    #: What to do when the content is not what the format says.
    fix: str


_FETCH = "download it again (`harness data fetch --protocol P --data-root DIR`)"

# LeCun et al.: 60,000 / 10,000 (torchvision MNIST; datasets.md section 8).
MNIST_IDX = DigitFormat("MNIST IDX", (28, 28), "uint8", (0, 255), (0, 9),
                        {"train": 60000, "test": 10000}, _FETCH)
# ESL split 7,291 / 2,007; the HDF5 copy holds (x + 1) / 2 in [0, 1] (datasets.md section 9).
USPS_H5 = DigitFormat("USPS HDF5", (256,), "float", (0.0, 1.0), (0, 9),
                      {"train": 7291, "test": 2007}, _FETCH + "; it is the 16x16 [0, 1] copy")
# LIBSVM usps / usps.t: values in [-1, 1], labels 1..10 = digit + 1 (torchvision USPS).
USPS_LIBSVM = DigitFormat("USPS LIBSVM", (256,), "float", (-1.0, 1.0), (1, 10),
                          {"train": 7291, "test": 2007}, _FETCH)
# Format 2 cropped digits: X (32, 32, 3, N) uint8, y 1..10 with 10 = digit 0 (TFDS svhn_cropped).
SVHN_MAT = DigitFormat("SVHN cropped digits", (32, 32, 3), "uint8", (0, 255), (1, 10),
                       {"train": 73257, "test": 26032},
                       _FETCH + "; use the Format 2 files train_32x32.mat / test_32x32.mat")
# Syn.Digits (Ganin & Lempitsky 2015's SynNumbers) as the .mat files DIRT-T reads
# (RuiShu/dirt-t codebase/datasets.py SynDigits: X (32, 32, 3, N), y 0..9, not SVHN's 1..10).
# The split sizes are those commonly quoted for synth_{train,test}_32x32.mat, not checked
# against a copy here: a full copy of another size is reported with its count.
SYNDIGITS_MAT = DigitFormat("Syn.Digits cropped digits", (32, 32, 3), "uint8", (0, 255), (0, 9),
                            {"train": 479400, "test": 9553},
                            "use synth_train_32x32.mat / synth_test_32x32.mat of the Syn.Digits "
                            "release (labels 0..9)")
# Ganin & Lempitsky's release: 59,001 / 9,001 RGB 32x32 PNGs (pytorch-adapt checks the same).
MNISTM_PNG = DigitFormat("MNIST-M PNG release", (32, 32, 3), "uint8", (0, 255), (0, 9),
                         {"train": 59001, "test": 9001},
                         "unpack mnist_m.tar.gz from the authors' release again")
# The release's test split packed as one .npz (offline digits kit).
MNISTM_NPZ = DigitFormat("MNIST-M test .npz", (32, 32, 3), "uint8", (0, 255), (0, 9),
                         {"test": 9001}, "use the 32x32 release, not a regenerated 28x28 copy: "
                         "copy mnist_m_test.npz from the offline digits kit again")


def validate(fmt: DigitFormat, split: str, images: np.ndarray, labels: np.ndarray,
             path: Path, labels_path: Path | None = None,
             subset: int | None = None) -> list[Problem]:
    """Every way ``images``/``labels`` read from ``path`` differ from ``fmt``; empty if none.

    ``images`` has the image axis first. ``subset`` declares that the file holds
    only part of the official split: at least that many images must be present.
    """
    where, label_where = str(path), str(labels_path or path)
    problems = []

    def bad(at: str, problem: str, fix: str = fmt.fix) -> None:
        problems.append(Problem(at, problem, fix))

    if images.ndim == 0:
        bad(where, f"holds one value where images were expected, the {fmt.name} format stores "
                   f"{fmt.image_shape} per image")
        images = images.reshape(0, *fmt.image_shape)
    n = len(images)
    if images.shape[1:] != fmt.image_shape:
        bad(where, f"images are {images.shape[1:]} each (image axis first), the {fmt.name} "
                   f"format stores {fmt.image_shape}")
    if fmt.dtype == "uint8" and images.dtype != np.uint8:
        bad(where, f"pixels are {images.dtype}, the {fmt.name} format stores uint8 0..255")
    elif fmt.dtype == "float" and not np.issubdtype(images.dtype, np.floating):
        bad(where, f"pixels are {images.dtype}, the {fmt.name} format stores floats in "
                   f"{fmt.pixel_range[0]}..{fmt.pixel_range[1]}")
    elif fmt.dtype == "float" and images.size:
        finite = np.isfinite(images)
        if not finite.all():
            first = int(np.argwhere(~finite.reshape(n, -1).all(1))[0, 0])
            bad(where, f"{int((~finite).sum())} pixel(s) are NaN or infinite (first in image "
                       f"{first})")
        values = images[finite]
        low, high = fmt.pixel_range
        if values.size and (values.min() < low or values.max() > high):
            bad(where, f"pixel values span {values.min():g}..{values.max():g}, the {fmt.name} "
                       f"format holds {low:g}..{high:g}")
    if labels.ndim != 1 or len(labels) != n:
        bad(label_where, f"{labels.size} labels of shape {labels.shape} for {n} images, "
                         "expected one label per image")
    elif labels.size:
        low, high = fmt.label_range
        whole = np.isfinite(labels) & (labels == np.round(labels))
        outside = labels[~whole | (labels < low) | (labels > high)]
        if outside.size:
            shown = ", ".join(f"{v:g}" for v in np.unique(outside)[:10])
            bad(label_where, f"labels {shown} are not whole numbers in {low}..{high} (the "
                             f"{fmt.name} label range)")
    official = fmt.counts.get(split)
    if subset is not None and n < subset:
        bad(where, f"{n} images in the {split} split, fewer than the declared subset of {subset}",
            f"{fmt.fix}, or declare the number present (options.subset = {n})")
    elif subset is None and official is not None and n != official:
        bad(where, f"{n} images in the {split} split, the official {split} split has {official}",
            f"{fmt.fix}, or declare a subset in the protocol (e.g. "
            f"--set target.options.subset={n})" if n else fmt.fix)
    return problems


def _raise_if(problems: list[Problem]) -> None:
    if problems:
        raise DigitFileError(problems)


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise DigitFileError([Problem(
            str(path), f"missing ({what})",
            "check --data-root, run `harness data fetch --protocol P --data-root DIR`, or put "
            "the file there as distributed")])
    return path


def _bad(path: Path, problem: str, fix: str) -> DigitFileError:
    return DigitFileError([Problem(str(path), problem, fix)])


def _as_float(images: np.ndarray) -> np.ndarray:
    return (images.astype(np.float32) / 255.0).astype(np.float32)


def read_mnist_idx(images_path: Path, labels_path: Path, split: str,
                   subset: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST as distributed: gzipped IDX files (magic 2051 images, 2049 labels)."""
    _need(images_path, "MNIST images, e.g. train-images-idx3-ubyte.gz")
    _need(labels_path, "MNIST labels, e.g. train-labels-idx1-ubyte.gz")
    images = _read_idx(images_path, magic=2051, ndim=3)
    labels = _read_idx(labels_path, magic=2049, ndim=1)
    _raise_if(validate(MNIST_IDX, split, images, labels, images_path, labels_path, subset))
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


def read_usps_h5(path: Path, split: str,
                 subset: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """USPS as the common HDF5 packaging: ``<split>/data`` (N, 256) in [0, 1], ``target``."""
    import h5py

    _need(path, "USPS HDF5 file usps.h5")
    try:
        with h5py.File(path, "r") as f:
            if f"{split}/data" not in f or f"{split}/target" not in f:
                raise _bad(path, f"has no datasets {split}/data and {split}/target "
                           f"(found {sorted(f.keys())})",
                           "use the usps.h5 packaging with train/ and test/ groups")
            data, target = f[f"{split}/data"][()], f[f"{split}/target"][()]
    except OSError as exc:
        raise _bad(path, f"is not an HDF5 file ({exc})", "download usps.h5 again") from None
    data, target = np.asarray(data), np.asarray(target)
    _raise_if(validate(USPS_H5, split, data, target, path, subset=subset))
    # Rows are 16x16 images in C order, values already in [0, 1] (ESL values (x + 1) / 2).
    return data.reshape(-1, 1, 16, 16).astype(np.float32), target.astype(np.int64)


def read_usps_libsvm(path: Path, split: str,
                     subset: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """USPS as LIBSVM distributes it (``usps.bz2``/``usps.t.bz2``): labels 1..10, values in [-1, 1]."""
    _need(path, "LIBSVM USPS file usps.bz2 or usps.t.bz2")
    opener = bz2.open if path.suffix == ".bz2" else open
    labels, images = [], []
    try:
        with opener(path, "rt") as f:
            for number, line in enumerate(f, 1):
                fields = line.split()
                if not fields:
                    continue
                row = np.zeros(256, dtype=np.float32)
                for item in fields[1:]:
                    index, _, value = item.partition(":")
                    if not 1 <= int(index) <= 256:  # LIBSVM features are 1-based
                        raise ValueError(f"line {number}: feature index {index} outside 1..256")
                    row[int(index) - 1] = float(value)
                labels.append(float(fields[0]))
                images.append(row)
    except (OSError, ValueError, EOFError) as exc:
        raise _bad(path, f"is not LIBSVM text ({exc})",
                   "use usps.bz2 / usps.t.bz2 from the LIBSVM multiclass page") from None
    x = np.stack(images) if images else np.zeros((0, 256), np.float32)
    y = np.asarray(labels, dtype=np.float64)
    _raise_if(validate(USPS_LIBSVM, split, x, y, path, subset=subset))
    x = (x + 1.0) / 2.0  # [-1, 1] -> [0, 1], as torchvision's USPS does
    return x.reshape(-1, 1, 16, 16).astype(np.float32), y.astype(np.int64) - 1


def read_svhn_mat(path: Path, split: str,
                  subset: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """SVHN cropped digits (``*_32x32.mat``): X (32, 32, 3, N) uint8, y (N, 1) with 10 meaning 0."""
    images, labels = _read_cropped_mat(path, SVHN_MAT, "SVHN file train_32x32.mat or "
                                       "test_32x32.mat", split, subset)
    return images, labels % 10  # SVHN marks the digit 0 as class 10


def read_syndigits_mat(path: Path, split: str,
                       subset: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Syn.Digits (``synth_*_32x32.mat``): SVHN's layout with labels 0..9."""
    return _read_cropped_mat(path, SYNDIGITS_MAT, "Syn.Digits file synth_train_32x32.mat or "
                             "synth_test_32x32.mat", split, subset)


def _read_cropped_mat(path: Path, fmt: DigitFormat, what: str, split: str,
                      subset: int | None) -> tuple[np.ndarray, np.ndarray]:
    """X (32, 32, 3, N) uint8 and y (N, 1) of a cropped-digits MATLAB file, validated."""
    from scipy.io import loadmat

    _need(path, what)
    try:
        mat = loadmat(path)
    except Exception as exc:  # scipy raises several types for a non-MAT file
        raise _bad(path, f"is not a MATLAB file ({exc})", fmt.fix) from None
    if "X" not in mat or "y" not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise _bad(path, f"has no X and y arrays (found {keys})",
                   f"{fmt.fix}; SVHN's Format 1 full-number files do not hold cropped digits")
    x, y = mat["X"], mat["y"].reshape(-1)
    if x.ndim != 4:
        raise _bad(path, f"X has shape {x.shape}, expected (32, 32, 3, N)", fmt.fix)
    x = np.moveaxis(x, -1, 0)  # stored H, W, C, N
    _raise_if(validate(fmt, split, x, y, path, subset=subset))
    return _as_float(x.transpose(0, 3, 1, 2)), y.astype(np.int64)


def load_mnistm_npz(path: Path, split: str = "test",
                    subset: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-M ``.npz`` as stored: ``images`` (N, 32, 32, 3) uint8 RGB and int64 ``labels``.

    ``filenames`` must list ``00000000.png``... in order: the number in the name is
    the image id that protocols split by.
    """
    _need(path, "MNIST-M archive mnist_m_test.npz")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = {"images", "labels", "filenames"} - set(z.files)
            if missing:
                raise _bad(path, f"arrays {sorted(missing)} are missing (found "
                           f"{sorted(z.files)})", "use the MNIST-M npz with arrays images, "
                           "labels, filenames as the digits kit stores them")
            x, y, names = z["images"], z["labels"], z["filenames"]
    except (OSError, ValueError) as exc:
        raise _bad(path, f"is not a NumPy .npz ({exc})", "copy the file again") from None
    problems = validate(MNISTM_NPZ, split, x, y, path, subset=subset)
    stems = [Path(str(n)).stem for n in names]
    if not all(s.isdigit() for s in stems) or [int(s) for s in stems] != list(range(len(x))):
        problems.append(Problem(str(path), "filenames do not list 00000000.png, 00000001.png ... "
                                "in order", "rebuild the .npz from the label file"))
    _raise_if(problems)
    return x, y.astype(np.int64)


def read_mnistm_npz(path: Path, split: str = "test",
                    subset: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-M as one ``.npz`` (see :func:`load_mnistm_npz`), as float (N, 3, 32, 32)."""
    x, y = load_mnistm_npz(path, split, subset)
    return _as_float(x.transpose(0, 3, 1, 2)), y


def read_mnistm_folder(folder: Path, labels_file: Path, split: str,
                       subset: int | None = None) -> tuple[np.ndarray, np.ndarray]:
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
    arrays = []
    for name in names:
        try:
            with Image.open(folder / name) as img:
                arrays.append(np.asarray(img.convert("RGB")))
        except (OSError, SyntaxError, ValueError) as exc:
            raise _bad(folder / name, f"cannot be decoded ({exc})", MNISTM_PNG.fix) from None
    odd = [(n, a.shape) for n, a in zip(names, arrays) if a.shape != MNISTM_PNG.image_shape]
    if odd:
        raise _bad(folder, f"{len(odd)} image(s) are not 32x32 RGB (first: {odd[0][0]} is "
                   f"{odd[0][1][1]}x{odd[0][1][0]})", MNISTM_PNG.fix)
    images = np.stack(arrays) if arrays else np.zeros((0, *MNISTM_PNG.image_shape), np.uint8)
    y = np.asarray(labels, dtype=np.int64)
    _raise_if(validate(MNISTM_PNG, split, images, y, folder, labels_file, subset))
    return _as_float(images.transpose(0, 3, 1, 2)), y
