"""Test-time resize of the image alone: labels stay at their native resolution.

mmcv's ``Resize`` also resizes ``gt_seg_map``; evaluating at the label's own
resolution (e.g. Cityscapes at 2048x1024) needs the network input resized and
the logits upsampled instead (harness.method.UDAMethod.resize_to).
"""

import cv2
from mmcv.transforms import BaseTransform

from harness.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ResizeImage(BaseTransform):
    def __init__(self, size: tuple[int, int]):
        self.size = tuple(size)  # (width, height), cv2's order

    def transform(self, results: dict) -> dict:
        results["img"] = cv2.resize(results["img"], self.size, interpolation=cv2.INTER_LINEAR)
        results["img_shape"] = results["img"].shape[:2]
        return results
