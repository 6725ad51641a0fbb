"""SYNTHIA: 16-bit 3-channel labels with the class id in R."""

from types import MappingProxyType

import cv2
import numpy as np
import pytest

from harness.data.fixtures import write_fixtures
from harness.data.labelmaps import LabelMap, get_labelmap
from harness.data.loading import load_label, read_label_ids
from harness.data.synthia import Synthia

# Expected trainIds of the fixture grid, transcribed from datasets.md 14.3.
# fmt: off
SYNTHIA_EXPECTED = [
    [255, 10, 2, 0, 1, 4],
    [8, 5, 13, 7, 11, 18],
    [17, 255, 255, 6, 9, 12],
    [14, 15, 16, 3, 255, 0],
]
# fmt: on


def test_loader_gives_expected_trainids(assert_loader_gives):
    assert_loader_gives("synthia", "train", {}, SYNTHIA_EXPECTED)


def test_wrong_channel_and_bit_depth_are_detected(seg_root):
    path = str(seg_root("synthia") / "GT" / "LABELS" / "0000000.png")
    right = get_labelmap("synthia")
    wrong_channel = LabelMap("synthia_g", "1", right.mapping, right.valid_ids, 16, 1, "test")
    with pytest.raises(ValueError, match="not valid synthia_g label ids"):
        load_label(path, wrong_channel)
    eight_bit = LabelMap("synthia_8", "1", MappingProxyType({}), tuple(range(23)), 8, None, "test")
    with pytest.raises(ValueError, match="Pillow mode 'RGB'"):
        read_label_ids(path, eight_bit)
    high_bytes = cv2.imread(path)  # default flag: 8-bit BGR
    with pytest.raises(ValueError, match="expects 16-bit"):
        right.remap(high_bytes[:, :, 2], path)


def test_8bit_label_where_16bit_expected(tmp_path):
    root = write_fixtures("synthia", tmp_path, n_per_split=1)
    path = root / "GT" / "LABELS" / "0000000.png"
    cv2.imwrite(str(path), (cv2.imread(str(path), cv2.IMREAD_UNCHANGED) % 256).astype(np.uint8))
    with pytest.raises(ValueError, match=r"0000000\.png: label PNG is 8-bit"):
        Synthia(str(root), "train")[0]
