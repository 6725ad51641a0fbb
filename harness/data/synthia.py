"""SYNTHIA-RAND-CITYSCAPES (Ros et al. 2016), the synthetic source of SYNTHIA -> Cityscapes."""

import re

from harness.data.seg_base import FlatPairs, register


@register
class Synthia(FlatPairs):
    """SYNTHIA-RAND-CITYSCAPES: all 9,400 frames; ``data_root`` is RAND_CITYSCAPES/."""

    NAME = "synthia"
    LABELMAP = "synthia"
    SPLIT_SIZES = {"train": 9400}  # valeoai/DADA:dada/dataset/synthia_list/all.txt
    LABELLED_SPLITS = ("train",)
    LAYOUT = (
        "  RGB/0000000.png ... 0009399.png        (RGB PNG)\n"
        "  GT/LABELS/0000000.png ... 0009399.png  (16-bit 3-channel PNG, class id in R)"
    )
    NAME_RE = re.compile(r"\d{7}\.png")

    IMAGE_DIR = ("RGB",)
    LABEL_DIR = ("GT", "LABELS")
