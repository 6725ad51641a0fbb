"""GTA5 (Richter et al. 2016), the labelled synthetic source of GTA5 -> Cityscapes."""

import re

from harness.data.seg_base import FlatPairs, register


@register
class GTA5(FlatPairs):
    """GTA5: all 24,966 frames are the labelled source set."""

    NAME = "gta5"
    LABELMAP = "gta5"
    SPLIT_SIZES = {"train": 24966}  # wasidennis/AdaptSegNet:dataset/gta5_list/train.txt
    LABELLED_SPLITS = ("train",)
    SIZE_MISMATCH = "resize_label"  # datasets.md 3.5: some frames differ by a few pixels
    LAYOUT = (
        "  images/00001.png ... 24966.png   (RGB PNG)\n"
        "  labels/00001.png ... 24966.png   (8-bit palette PNG, Cityscapes labelIds)"
    )
    # Five digits only: skips converted files such as 00001_labelTrainIds.png (DAFormer).
    NAME_RE = re.compile(r"\d{5}\.png")

    IMAGE_DIR = ("images",)
    LABEL_DIR = ("labels",)
