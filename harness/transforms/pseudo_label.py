"""Pseudo-labels as the target's label, read before the training crops.

Self-training writes one label map per target image and round under
``<root>/round_<k>/<image stem>.png`` and names the current round in
``<root>/CURRENT``. Loading them at the front of the pipeline makes the random
resize, crop and flip apply to image and pseudo-label alike; reading CURRENT on
every item lets dataloader worker processes follow the rounds.
"""

from pathlib import Path

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from harness.errors import DataError
from harness.registry import TRANSFORMS

IGNORE = 255


def current_round_dir(root: Path) -> Path | None:
    pointer = Path(root) / "CURRENT"
    return Path(root) / pointer.read_text().strip() if pointer.is_file() else None


@TRANSFORMS.register_module()
class LoadPseudoLabel(BaseTransform):
    def __init__(self, root: str):
        self.root = Path(root)

    def transform(self, results: dict) -> dict:
        height, width = results["img"].shape[:2]
        folder = current_round_dir(self.root)
        label = np.full((height, width), IGNORE, dtype=np.uint8)  # before round 0: nothing
        if folder is not None:
            path = folder / f"{Path(results['img_path']).stem}.png"
            label = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if label is None or label.shape != (height, width):
                raise DataError(
                    f"{path}: missing or not a {width}x{height} pseudo-label map; delete "
                    f"{folder} to have the round recomputed"
                )
        results["gt_seg_map"] = label
        results.setdefault("seg_fields", []).append("gt_seg_map")
        return results
