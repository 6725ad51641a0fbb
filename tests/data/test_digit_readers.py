"""Digit readers on hand-written files in each distributed format, and on the offline kit."""

import bz2
import gzip
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from harness.data.digit_readers import (
    DigitFileError,
    read_mnist_idx,
    read_mnistm_folder,
    read_mnistm_npz,
    read_svhn_mat,
    read_usps_h5,
    read_usps_libsvm,
)
from harness.data.digits import DigitFilesDataset, to_channels
from harness.protocol import load_protocol

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
needs_kit = pytest.mark.skipif(not (SHARED_DATA / "usps.h5").is_file(),
                               reason=f"offline digits kit not found at {SHARED_DATA}")


def _idx(path: Path, magic: int, array: np.ndarray) -> None:
    header = np.array([magic, *array.shape], dtype=">i4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_mnist_idx_round_trip_and_wrong_magic(tmp_path):
    images = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
    _idx(tmp_path / "i.gz", 2051, images)
    _idx(tmp_path / "l.gz", 2049, np.array([7, 3]))
    x, y = read_mnist_idx(tmp_path / "i.gz", tmp_path / "l.gz")
    assert x.shape == (2, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, 0] * 255, images)
    assert y.tolist() == [7, 3]
    with pytest.raises(DigitFileError, match=r"l\.gz.*magic number is 2049, expected 2051"):
        read_mnist_idx(tmp_path / "l.gz", tmp_path / "l.gz")


def test_usps_libsvm_labels_one_to_ten_and_values(tmp_path):
    path = tmp_path / "usps.bz2"
    # Label 10 is the digit 9; pixels given sparsely (1-based), the rest are 0 -> 0.5.
    path.write_bytes(bz2.compress(b"10 1:-1 2:1 256:0.5\n1 3:-0.5\n"))
    x, y = read_usps_libsvm(path)
    assert y.tolist() == [9, 0] and x.shape == (2, 1, 16, 16)
    flat = x.reshape(2, -1)
    assert flat[0, :2].tolist() == [0.0, 1.0] and flat[0, 255] == 0.75 and flat[0, 2] == 0.5
    assert flat[1, 2] == 0.25
    path.write_bytes(bz2.compress(b"11 1:0\n"))
    with pytest.raises(DigitFileError, match="expected 1..10"):
        read_usps_libsvm(path)


def test_usps_h5_layout_and_missing_group(tmp_path):
    path = tmp_path / "usps.h5"
    data = np.linspace(0, 1, 2 * 256, dtype=np.float32).reshape(2, 256)
    with h5py.File(path, "w") as f:
        f["train/data"], f["train/target"] = data, np.array([4, 2], dtype=np.int32)
    x, y = read_usps_h5(path, "train")
    np.testing.assert_array_equal(x[1, 0], data[1].reshape(16, 16))  # C order rows
    assert y.tolist() == [4, 2]
    with pytest.raises(DigitFileError, match="no datasets test/data"):
        read_usps_h5(path, "test")


def test_svhn_label_ten_is_zero_and_a_mat_without_x_y(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (32, 32, 3, 3), dtype=np.uint8)
    savemat(tmp_path / "test_32x32.mat", {"X": x, "y": np.array([[10], [1], [9]])})
    images, labels = read_svhn_mat(tmp_path / "test_32x32.mat")
    assert labels.tolist() == [0, 1, 9] and images.shape == (3, 3, 32, 32)
    np.testing.assert_allclose(images[2, 1] * 255, x[:, :, 1, 2], atol=1e-4)  # (H, W) of green
    savemat(tmp_path / "digitStruct.mat", {"bbox": np.zeros(3)})
    with pytest.raises(DigitFileError, match=r"digitStruct\.mat: has no X and y.*Format 2"):
        read_svhn_mat(tmp_path / "digitStruct.mat")


def test_mnistm_png_folder_with_crlf_labels(tmp_path):
    folder = tmp_path / "mnist_m_test"
    folder.mkdir()
    pixels = np.zeros((32, 32, 3), dtype=np.uint8)
    pixels[0, 0] = (255, 0, 51)
    Image.fromarray(pixels).save(folder / "00000000.png")
    Image.fromarray(255 - pixels).save(folder / "00000001.png")
    (tmp_path / "labels.txt").write_bytes(b"00000000.png 7\r\n00000001.png 2")
    x, y = read_mnistm_folder(folder, tmp_path / "labels.txt")
    assert y.tolist() == [7, 2] and x.shape == (2, 3, 32, 32)
    assert x[0, :, 0, 0].tolist() == pytest.approx([1.0, 0.0, 0.2])
    (tmp_path / "labels.txt").write_text("00000009.png 1\n")
    with pytest.raises(DigitFileError, match="00000009.png"):
        read_mnistm_folder(folder, tmp_path / "labels.txt")


def test_rgb_to_grey_matches_pil_luma():
    rgb = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    ours = to_channels(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255, 1)
    pil = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float32)
    np.testing.assert_allclose(ours[0, 0].numpy() * 255, pil, atol=1.0)


@needs_kit
def test_offline_kit_counts_as_its_manifest():
    x, y = read_usps_h5(SHARED_DATA / "usps.h5", "train")
    assert x.shape == (7291, 1, 16, 16)
    assert np.bincount(y).tolist() == [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644]
    x, y = read_mnistm_npz(SHARED_DATA / "mnist_m_test.npz")
    assert x.shape == (9001, 3, 32, 32)
    assert np.bincount(y).tolist() == [878, 1016, 933, 908, 890, 807, 856, 914, 880, 919]


@needs_kit
def test_variant_protocol_targets_have_documented_sizes():
    usps = load_protocol("digits_mnist5k_usps").target
    test = DigitFilesDataset(split="test", data_root=str(SHARED_DATA), **usps.options)
    assert len(test) == 2007 and test[0]["inputs"].shape == (1, 28, 28)
    mnistm = load_protocol("digits_mnist5k_mnistm").target
    parts = {s: DigitFilesDataset(split=s, data_root=str(SHARED_DATA), **mnistm.options)
             for s in ("adapt", "test")}
    assert len(parts["adapt"]) == 6001 and len(parts["test"]) == 3000
    assert parts["test"].images.shape[1:] == (3, 28, 28)
    assert torch.bincount(parts["test"].labels).tolist() == [300] * 10
