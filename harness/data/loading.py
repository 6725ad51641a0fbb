"""Decoding of segmentation images and label files, and the pipeline ends.

Images are decoded with Pillow to RGB. Label files are decoded as their dataset's
``LabelMap`` says (datasets.md T3, T4): 8-bit single-channel PNGs with Pillow
(palette PNGs give their indices; OpenCV would expand them to colours), 16-bit
multi-channel PNGs with OpenCV ``IMREAD_UNCHANGED`` (Pillow keeps only the high
bytes). The ids are then remapped with the map's lookup table. Every failure
names the file.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from PIL import Image

from harness.data.labelmaps import LabelMap, get_labelmap
from harness.errors import DataError, DataMissingError
from harness.registry import TRANSFORMS

# Pillow modes that hold one 8-bit value per pixel ('P': the value is the palette index).
_SINGLE_8BIT_MODES = ("L", "P")


def read_rgb(path: str) -> np.ndarray:
    """HxWx3 uint8 RGB array of an image file."""
    try:
        with Image.open(path) as img:
            # np.array, not asarray: Pillow's buffer is read-only and transforms may write.
            return np.array(img.convert("RGB"))
    except FileNotFoundError:
        raise DataMissingError(f"{path}: image file does not exist") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise DataError(
            f"{path}: cannot decode image ({err}); the file is corrupt or truncated: "
            "extract it again from the dataset archive"
        ) from None


def read_label_ids(path: str, labelmap: LabelMap) -> np.ndarray:
    """HxW array of the raw ids stored in a label file, at the map's bit depth."""
    if labelmap.bit_depth == 8:
        return _read_8bit(path, labelmap)
    return _read_16bit_channel(path, labelmap)


def _read_8bit(path: str, labelmap: LabelMap) -> np.ndarray:
    try:
        with Image.open(path) as img:
            mode = img.mode
            ids = np.asarray(img) if mode in _SINGLE_8BIT_MODES else None
    except FileNotFoundError:
        raise DataMissingError(f"{path}: label file does not exist") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise DataError(
            f"{path}: cannot decode label PNG ({err}); the file is corrupt or truncated: "
            "extract it again from the dataset archive"
        ) from None
    if ids is None:
        raise DataError(
            f"{path}: label image has Pillow mode {mode!r}, but {labelmap.name} labels are "
            "8-bit single-channel (mode L or P) id maps; a colour rendering or a 16-bit file "
            "is not a label map: point the loader at the distributed label files"
        )
    return ids


def _read_16bit_channel(path: str, labelmap: LabelMap) -> np.ndarray:
    arr = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if arr is None:
        if not os.path.exists(path):
            raise DataMissingError(f"{path}: label file does not exist")
        raise DataError(
            f"{path}: OpenCV cannot decode this label PNG; the file is corrupt or truncated: "
            "extract it again from the dataset archive"
        )
    if arr.dtype != np.uint16:
        raise DataError(
            f"{path}: label PNG is {arr.dtype.itemsize * 8}-bit, but {labelmap.name} labels are "
            "16-bit per channel; this is a converted or wrong file: use the distributed "
            "16-bit label PNGs"
        )
    if arr.ndim != 3 or arr.shape[2] <= labelmap.channel:
        raise DataError(
            f"{path}: label PNG has shape {arr.shape}, but {labelmap.name} labels have "
            f"at least {labelmap.channel + 1} channels (class id in BGR channel "
            f"{labelmap.channel}); use the distributed label PNGs"
        )
    return np.ascontiguousarray(arr[:, :, labelmap.channel])


def load_label(path: str, labelmap: LabelMap) -> np.ndarray:
    """HxW uint8 trainIds (255 = ignore) of a label file."""
    return labelmap.remap(read_label_ids(path, labelmap), path)


@TRANSFORMS.register_module()
class LoadRGBImage(BaseTransform):
    """Read ``img_path`` into ``img`` (HxWx3 uint8, RGB order)."""

    def transform(self, results: dict) -> dict:
        img = read_rgb(results["img_path"])
        results["img"] = img
        results["img_shape"] = img.shape[:2]
        results["ori_shape"] = img.shape[:2]
        return results


@TRANSFORMS.register_module()
class LoadSegLabel(BaseTransform):
    """Read ``seg_map_path`` into ``gt_seg_map`` (HxW uint8 trainIds) through a label map.

    Run after :class:`LoadRGBImage`. ``size_mismatch`` says what to do when the
    label and image sizes differ: ``"error"`` (default), or ``"resize_label"``
    (nearest neighbour to the image size, the documented GTA5 policy,
    datasets.md section 3.5: some GTA5 frames are off by a few pixels).
    """

    def __init__(self, labelmap: str, size_mismatch: str = "error"):
        if size_mismatch not in ("error", "resize_label"):
            raise DataError(
                f"size_mismatch must be 'error' or 'resize_label', not {size_mismatch!r}"
            )
        self.labelmap = labelmap
        self.size_mismatch = size_mismatch

    def transform(self, results: dict) -> dict:
        path = results["seg_map_path"]
        label = load_label(path, get_labelmap(self.labelmap))
        height, width = results["img"].shape[:2]
        if label.shape != (height, width):
            if self.size_mismatch == "error":
                raise DataError(
                    f"{path}: label is {label.shape[1]}x{label.shape[0]} but its image "
                    f"{results['img_path']} is {width}x{height} (WxH); replace the pair with "
                    "a matching one from the dataset archive"
                )
            label = cv2.resize(label, (width, height), interpolation=cv2.INTER_NEAREST)
        results["gt_seg_map"] = label
        results.setdefault("seg_fields", []).append("gt_seg_map")
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(labelmap={self.labelmap!r}, size_mismatch={self.size_mismatch!r})"


@TRANSFORMS.register_module()
class PackSegSample(BaseTransform):
    """Final step: ``{"inputs": uint8 [3,H,W] RGB, "label": int64 [H,W], "meta": {...}}``.

    ``label`` is absent for unlabelled samples (``seg_map_path`` None).
    """

    def transform(self, results: dict) -> dict:
        img = results["img"]
        sample = {
            "inputs": torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))),
            "meta": {
                "img_path": results["img_path"],
                "label_path": results.get("seg_map_path"),
                "ori_shape": tuple(results["ori_shape"]),
                "img_shape": tuple(img.shape[:2]),
            },
        }
        if "gt_seg_map" in results:
            sample["label"] = torch.from_numpy(results["gt_seg_map"].astype(np.int64))
        return sample
