"""GTA5: palette PNG labels holding Cityscapes labelIds, and its size-mismatch policy."""

import cv2
import pytest
from PIL import Image

from harness.data.cityscapes import Cityscapes
from harness.data.fixtures import write_fixtures
from harness.data.gta5 import GTA5
from harness.data.labelmaps import get_labelmap
from harness.data.loading import load_label


@pytest.fixture
def cityscapes_trainids(seg_root, cell_centres):
    """The trainId grid of the Cityscapes fixture: GTA5 labels are Cityscapes labelIds, with
    34 (license plate, also ignored) in place of 1 (datasets.md 14.1-14.2)."""
    label = Cityscapes(str(seg_root("cityscapes")), "val")[0]["label"].numpy()
    return cell_centres(label, 4, 6).tolist()


def test_loader_gives_cityscapes_trainids(assert_loader_gives, cityscapes_trainids):
    assert cityscapes_trainids[0][:3] == [255, 255, 255]
    assert_loader_gives("gta5", "train", {}, cityscapes_trainids)


def test_labels_read_as_colours_are_detected(seg_root):
    path = str(seg_root("gta5") / "labels" / "00001.png")
    luminance = cv2.imread(path, cv2.IMREAD_GRAYSCALE)  # OpenCV expands the palette
    with pytest.raises(ValueError, match="not valid gta5 label ids"):
        get_labelmap("gta5").remap(luminance, path)
    # Treating raw GTA5 ids as trainIds is caught too.
    with pytest.raises(ValueError, match="not valid cityscapes_trainids"):
        load_label(path, get_labelmap("cityscapes_trainids"))


def test_size_mismatch_resizes_the_label(tmp_path, cell_centres, cityscapes_trainids):
    # Some GTA5 frames differ from their label by a few pixels (datasets.md 3.5).
    root = write_fixtures("gta5", tmp_path, n_per_split=1)
    Image.new("RGB", (64, 40)).save(root / "images" / "00001.png")
    label = GTA5(str(root), "train")[0]["label"].numpy()
    assert label.shape == (40, 64)  # resized to the image with nearest neighbour
    assert cell_centres(label, 4, 6).tolist() == cityscapes_trainids
