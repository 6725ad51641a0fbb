from pathlib import Path

import numpy as np
import pytest
import torch

from harness.data.digit_readers import DigitFileError
from harness.data.mnist_m import MnistMCamera
from harness.protocol import load_protocol
from harness.transforms.simcam import lab_rotate

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
needs_data = pytest.mark.skipif(
    not (SHARED_DATA / "mnist_m_test.npz").is_file(),
    reason=f"the offline digits kit (mnist_m_test.npz) is not at {SHARED_DATA}",
)
PROTOCOL = load_protocol("mnistm_simcam_rotation")


def split(domain, name, **kw):
    return MnistMCamera(str(SHARED_DATA), name, **{**domain.options, **kw})


@needs_data
def test_protocol_parts_are_disjoint_id_ranges_with_documented_sizes():
    src, tgt = PROTOCOL.source, PROTOCOL.target
    sizes = {s: len(split(src, s, camera="none", size=32)) for s in ("source", "adapt", "test")}
    assert sizes == {"source": 5000, "adapt": 3000, "test": 1001}
    labels = np.load(SHARED_DATA / "mnist_m_test.npz")["labels"]
    assert torch.equal(split(tgt, "test").labels, torch.from_numpy(labels[8000:]))


@needs_data
def test_target_is_the_source_images_through_the_camera():
    clean = split(PROTOCOL.source, "test", size=32)
    rotated = split(PROTOCOL.target, "test", size=32)
    stored = torch.from_numpy(np.load(SHARED_DATA / "mnist_m_test.npz")["images"][8000:8004])
    ref = lab_rotate(stored.permute(0, 3, 1, 2), 150.0).float() / 255
    assert torch.equal(rotated.images[:4], ref)
    assert torch.equal(clean.images[:4], stored.permute(0, 3, 1, 2).float() / 255)
    assert split(PROTOCOL.target, "adapt")[0]["inputs"].shape == (3, 28, 28)


def test_a_regenerated_28x28_copy_is_rejected(tmp_path):
    np.savez(tmp_path / "mnist_m_test.npz", images=np.zeros((10, 28, 28, 3), np.uint8),
             labels=np.zeros(10, np.int64), filenames=np.array([f"{i:08d}.png" for i in range(10)]))
    with pytest.raises(DigitFileError, match=r"images are \(28, 28, 3\) each.*32x32 release"):
        MnistMCamera(str(tmp_path), "test", {"test": [0, 9]})


def test_missing_file_names_the_data_root(tmp_path):
    with pytest.raises(DigitFileError, match=r"mnist_m_test\.npz: missing .*--data-root"):
        MnistMCamera(str(tmp_path), "test", {"test": [0, 9]})
