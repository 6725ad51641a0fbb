"""The MNIST-M test split (``mnist_m_test.npz``) split by image id and seen by a camera.

The small-scale stand-in for AdapterNet's ImageNet benchmark: one image set split
by id into disjoint ranges (seed 003 §4), the clean images training the frozen
source model and the same images through a simulated camera (§5) the target.
File layout as in the offline digits kit: ``images`` (9,001, 32, 32, 3) uint8 RGB,
``labels`` int64 0..9, ``filenames`` ``00000000.png`` ... ``00009000.png``; the
image id is the number in the file name.
"""

import functools
import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from harness.data.digit_readers import load_mnistm_npz
from harness.data.simcam_splits import build_camera, id_range
from harness.errors import DataError
from harness.registry import DATASETS

MNIST_M_TEST_FILE = "mnist_m_test.npz"


@functools.cache  # inflating the 21 MB .npz takes a second; every split of a run reads it
def load_mnist_m_test(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images N,32,32,3 uint8, labels int64) of the whole release test split, validated
    (digit_readers.load_mnistm_npz: 9,001 images of 32x32 RGB, ids in file order).

    Shared between callers: slice and copy, never write into them.
    """
    return load_mnistm_npz(path, "test")


@DATASETS.register_module(name="mnist_m")
class MnistMCamera(Dataset):
    """One id range of MNIST-M test through ``camera`` (``none`` = clean), resized to ``size``.

    Items: ``{"inputs": float [3, size, size] in [0, 1], "label": int64}``. The camera
    acts on the stored 8-bit images (as the paper transformed stored images) before
    the resize to the model's input size.
    """

    def __init__(self, data_root: str, split: str, id_ranges: dict[str, list[int]],
                 camera: str = "none", size: int = 32):
        path = Path(data_root) / MNIST_M_TEST_FILE
        where = f"mnist_m at {path}"
        ids = id_range(id_ranges, split, where)
        images, labels = load_mnist_m_test(path)
        if ids.stop > len(labels):
            raise DataError(f"{where}: split {split!r} reaches id {ids.stop - 1} but the file "
                             f"ends at {len(labels) - 1}; fix id_ranges in the protocol")
        pixels = torch.from_numpy(images[ids.start:ids.stop]).permute(0, 3, 1, 2).contiguous()
        camera_fn = build_camera(camera, where)
        if camera_fn is not None:
            pixels = camera_fn(pixels)
        pixels = pixels.float() / 255
        if size != pixels.shape[-1]:
            pixels = F.interpolate(pixels, size=(size, size), mode="bilinear",
                                   align_corners=False, antialias=True).clamp_(0, 1)
        self.images = pixels
        self.labels = torch.from_numpy(labels[ids.start:ids.stop].copy())
        self.split = split
        self.metainfo = {"dataset": "mnist_m", "split": split, "camera": camera}

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {"inputs": self.images[i], "label": self.labels[i]}

    def fingerprint(self) -> str:
        """sha256 of the exact tensors a run sees (images and labels)."""
        h = hashlib.sha256(self.images.numpy().tobytes())
        h.update(self.labels.numpy().tobytes())
        return h.hexdigest()
