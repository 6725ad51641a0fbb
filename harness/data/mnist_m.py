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

from harness.data.simcam_splits import build_camera, id_range
from harness.registry import DATASETS

MNIST_M_TEST_FILE = "mnist_m_test.npz"
# Ganin & Lempitsky's release: 9,001 test images of 32x32 RGB (datasets.md §11).
MNIST_M_TEST_SHAPE = (9001, 32, 32, 3)


@functools.cache  # inflating the 21 MB .npz takes a second; every split of a run reads it
def load_mnist_m_test(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images N,H,W,3 uint8, labels int64, ids) of the .npz, checked against the release.

    Shared between callers: slice and copy, never write into them.
    """
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; pass --data-root the folder that holds {MNIST_M_TEST_FILE}"
        )
    with np.load(path, allow_pickle=False) as z:
        missing = {"images", "labels", "filenames"} - set(z.files)
        if missing:
            raise ValueError(f"{path}: arrays {sorted(missing)} are missing; expected "
                             "images, labels and filenames as the digits kit stores them")
        images, labels, names = z["images"], z["labels"], z["filenames"]
    if images.shape != MNIST_M_TEST_SHAPE or images.dtype != np.uint8:
        raise ValueError(
            f"{path}: images are {images.dtype} {images.shape}, expected uint8 "
            f"{MNIST_M_TEST_SHAPE} (the 32x32 release, not a regenerated 28x28 copy)"
        )
    ids = np.array([int(Path(str(n)).stem) for n in names])
    if len(labels) != len(images) or not np.array_equal(ids, np.arange(len(images))):
        raise ValueError(f"{path}: labels/filenames do not list images 00000000..00009000 in "
                         "order; rebuild the .npz from the label file")
    return images, labels.astype(np.int64), ids


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
        images, labels, all_ids = load_mnist_m_test(path)
        if ids.stop > len(all_ids):
            raise ValueError(f"{where}: split {split!r} reaches id {ids.stop - 1} but the file "
                             f"ends at {all_ids[-1]}; fix id_ranges in the protocol")
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
