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
    read_syndigits_mat,
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
    x, y = read_mnist_idx(tmp_path / "i.gz", tmp_path / "l.gz", "test", subset=2)
    assert x.shape == (2, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, 0] * 255, images)
    assert y.tolist() == [7, 3]
    with pytest.raises(DigitFileError, match=r"l\.gz.*magic number is 2049, expected 2051"):
        read_mnist_idx(tmp_path / "l.gz", tmp_path / "l.gz", "test")


def test_usps_libsvm_labels_one_to_ten_and_values(tmp_path):
    path = tmp_path / "usps.bz2"
    # Label 10 is the digit 9; pixels given sparsely (1-based), the rest are 0 -> 0.5.
    path.write_bytes(bz2.compress(b"10 1:-1 2:1 256:0.5\n1 3:-0.5\n"))
    x, y = read_usps_libsvm(path, "train", subset=2)
    assert y.tolist() == [9, 0] and x.shape == (2, 1, 16, 16)
    flat = x.reshape(2, -1)
    assert flat[0, :2].tolist() == [0.0, 1.0] and flat[0, 255] == 0.75 and flat[0, 2] == 0.5
    assert flat[1, 2] == 0.25
    path.write_bytes(bz2.compress(b"11 1:0\n"))
    with pytest.raises(DigitFileError, match=r"labels 11 are not whole numbers in 1\.\.10"):
        read_usps_libsvm(path, "train", subset=1)


def test_usps_h5_layout_and_missing_group(tmp_path):
    path = tmp_path / "usps.h5"
    data = np.linspace(0, 1, 2 * 256, dtype=np.float32).reshape(2, 256)
    with h5py.File(path, "w") as f:
        f["train/data"], f["train/target"] = data, np.array([4, 2], dtype=np.int32)
    x, y = read_usps_h5(path, "train", subset=2)
    np.testing.assert_array_equal(x[1, 0], data[1].reshape(16, 16))  # C order rows
    assert y.tolist() == [4, 2]
    with pytest.raises(DigitFileError, match="no datasets test/data"):
        read_usps_h5(path, "test")


def test_svhn_label_ten_is_zero_and_a_mat_without_x_y(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (32, 32, 3, 3), dtype=np.uint8)
    savemat(tmp_path / "test_32x32.mat", {"X": x, "y": np.array([[10], [1], [9]])})
    images, labels = read_svhn_mat(tmp_path / "test_32x32.mat", "test", subset=3)
    assert labels.tolist() == [0, 1, 9] and images.shape == (3, 3, 32, 32)
    np.testing.assert_allclose(images[2, 1] * 255, x[:, :, 1, 2], atol=1e-4)  # (H, W) of green
    savemat(tmp_path / "digitStruct.mat", {"bbox": np.zeros(3)})
    with pytest.raises(DigitFileError, match=r"digitStruct\.mat: has no X and y.*Format 2"):
        read_svhn_mat(tmp_path / "digitStruct.mat", "test")


def test_mnistm_png_folder_with_crlf_labels(tmp_path):
    folder = tmp_path / "mnist_m_test"
    folder.mkdir()
    pixels = np.zeros((32, 32, 3), dtype=np.uint8)
    pixels[0, 0] = (255, 0, 51)
    Image.fromarray(pixels).save(folder / "00000000.png")
    Image.fromarray(255 - pixels).save(folder / "00000001.png")
    (tmp_path / "labels.txt").write_bytes(b"00000000.png 7\r\n00000001.png 2")
    x, y = read_mnistm_folder(folder, tmp_path / "labels.txt", "test", subset=2)
    assert y.tolist() == [7, 2] and x.shape == (2, 3, 32, 32)
    assert x[0, :, 0, 0].tolist() == pytest.approx([1.0, 0.0, 0.2])
    (tmp_path / "labels.txt").write_text("00000009.png 1\n")
    with pytest.raises(DigitFileError, match="00000009.png"):
        read_mnistm_folder(folder, tmp_path / "labels.txt", "test")


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
    x, y = read_mnistm_npz(SHARED_DATA / "mnist_m_test.npz", "test")
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


# --- validation: every reader checks its format, the counts and the values ---------------

def write_usps_h5(path: Path, train: int = 7291, test: int = 2007, **edit) -> Path:
    """usps.h5 with the shipped structure and ``train``/``test`` images (values in [0, 1]);
    ``edit`` replaces arrays, e.g. ``test_target=np.zeros(100)``."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", train), ("test", test)):
        arrays[f"{split}_data"] = rng.random((n, 256), dtype=np.float32)
        arrays[f"{split}_target"] = (np.arange(n) % 10).astype(np.int32)
    arrays.update(edit)
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            f[key.replace("_", "/")] = value
    return path


def test_usps_h5_with_the_official_counts_reads(tmp_path):
    path = write_usps_h5(tmp_path / "usps.h5")
    assert read_usps_h5(path, "train")[0].shape == (7291, 1, 16, 16)
    assert read_usps_h5(path, "test")[1].shape == (2007,)


@pytest.mark.parametrize("edit, split, message", [
    ({"test": 0}, "test", "0 images in the test split, the official test split has 2007"),
    ({"test_target": np.zeros(100, np.int32)}, "test",
     r"100 labels of shape \(100,\) for 2007 images"),
    ({"train": 50}, "train", "50 images in the train split, the official train split has 7291"
                             r".*options\.subset=50"),
    ({"train_target": np.full(7291, 10, np.int32)}, "train",
     r"labels 10 are not whole numbers in 0\.\.9"),
    ({"test_data": np.zeros((2007, 16, 16), np.float32)}, "test",
     r"images are \(16, 16\) each .* stores \(256,\)"),
    # The ESL / LIBSVM encoding in [-1, 1] saved as if it were this copy.
    ({"test_data": np.linspace(-1, 1, 2007 * 256, dtype=np.float32).reshape(2007, 256)}, "test",
     r"pixel values span -1\.\.1, the USPS HDF5 format holds 0\.\.1"),
    ({"test_data": np.ones((2007, 256), np.uint8)}, "test", "pixels are uint8"),
])
def test_usps_h5_contents_are_validated(tmp_path, edit, split, message):
    counts = {k: v for k, v in edit.items() if k in ("train", "test")}
    arrays = {k: v for k, v in edit.items() if k not in counts}
    path = write_usps_h5(tmp_path / "usps.h5", **counts, **arrays)
    with pytest.raises(DigitFileError, match=rf"{path}: {message}"):
        read_usps_h5(path, split)


def test_usps_h5_nan_pixels_and_every_problem_at_once(tmp_path):
    data = np.zeros((50, 256), np.float32)
    data[5, 3] = np.nan
    data[7, 0] = -0.5
    path = write_usps_h5(tmp_path / "usps.h5", train_data=data,
                         train_target=np.arange(50, dtype=np.int32) % 10)
    with pytest.raises(DigitFileError) as err:
        read_usps_h5(path, "train")
    problems = [p.problem for p in err.value.problems]
    assert problems == [
        "1 pixel(s) are NaN or infinite (first in image 5)",
        "pixel values span -0.5..0, the USPS HDF5 format holds 0..1",
        "50 images in the train split, the official train split has 7291",
    ]
    assert all(p.path == str(path) and p.fix for p in err.value.problems)


def test_a_declared_subset_needs_that_many_images(tmp_path):
    path = write_usps_h5(tmp_path / "usps.h5", train=50)
    assert len(read_usps_h5(path, "train", subset=50)[0]) == 50
    assert len(read_usps_h5(path, "train", subset=20)[0]) == 50  # the caller takes the first 20
    with pytest.raises(DigitFileError, match="50 images in the train split, fewer than the "
                                             "declared subset of 60"):
        read_usps_h5(path, "train", subset=60)


def test_mnist_idx_counts_labels_and_shape(tmp_path):
    _idx(tmp_path / "i.gz", 2051, np.zeros((2, 28, 28)))
    _idx(tmp_path / "l.gz", 2049, np.array([3, 12]))
    with pytest.raises(DigitFileError) as err:
        read_mnist_idx(tmp_path / "i.gz", tmp_path / "l.gz", "test")
    assert [(Path(p.path).name, p.problem) for p in err.value.problems] == [
        ("l.gz", "labels 12 are not whole numbers in 0..9 (the MNIST IDX label range)"),
        ("i.gz", "2 images in the test split, the official test split has 10000"),
    ]
    _idx(tmp_path / "i.gz", 2051, np.zeros((2, 28, 27)))
    with pytest.raises(DigitFileError, match=r"i\.gz: images are \(28, 27\) each"):
        read_mnist_idx(tmp_path / "i.gz", tmp_path / "l.gz", "test", subset=2)


def test_usps_libsvm_values_and_feature_indices(tmp_path):
    path = tmp_path / "usps.bz2"
    path.write_bytes(bz2.compress(b"3 1:2.5\n"))
    with pytest.raises(DigitFileError, match=r"pixel values span 0\.\.2\.5, the USPS LIBSVM "
                                             r"format holds -1\.\.1"):
        read_usps_libsvm(path, "train", subset=1)
    path.write_bytes(bz2.compress(b"3 0:1\n"))  # 1-based: index 0 would wrap to the last pixel
    with pytest.raises(DigitFileError, match="feature index 0 outside 1..256"):
        read_usps_libsvm(path, "train", subset=1)
    path.write_bytes(bz2.compress(b"3.5 1:1\n"))
    with pytest.raises(DigitFileError, match=r"labels 3\.5 are not whole numbers"):
        read_usps_libsvm(path, "train", subset=1)


def test_svhn_raw_label_zero_and_float_pixels_are_refused(tmp_path):
    x = np.zeros((32, 32, 3, 2), np.uint8)
    savemat(tmp_path / "a.mat", {"X": x, "y": np.array([[0], [10]])})
    with pytest.raises(DigitFileError, match=r"labels 0 are not whole numbers in 1\.\.10"):
        read_svhn_mat(tmp_path / "a.mat", "test", subset=2)
    savemat(tmp_path / "b.mat", {"X": x.astype(np.float64), "y": np.array([[1], [10]])})
    with pytest.raises(DigitFileError, match="pixels are float64, the SVHN cropped digits "
                                             "format stores uint8"):
        read_svhn_mat(tmp_path / "b.mat", "test", subset=2)
    savemat(tmp_path / "c.mat", {"X": x, "y": np.array([[1], [10]])})
    with pytest.raises(DigitFileError, match="the official test split has 26032"):
        read_svhn_mat(tmp_path / "c.mat", "test")


def test_mnistm_npz_and_folder_are_validated(tmp_path):
    names = np.array([f"{i:08d}.png" for i in range(3)])
    np.savez(tmp_path / "f.npz", images=np.zeros((3, 32, 32, 3), np.float32),
             labels=np.zeros(3, np.int64), filenames=names)
    with pytest.raises(DigitFileError, match="pixels are float32"):
        read_mnistm_npz(tmp_path / "f.npz", "test", subset=3)
    np.savez(tmp_path / "o.npz", images=np.zeros((3, 32, 32, 3), np.uint8),
             labels=np.zeros(3, np.int64), filenames=names[::-1])
    with pytest.raises(DigitFileError, match="filenames do not list 00000000.png"):
        read_mnistm_npz(tmp_path / "o.npz", "test", subset=3)
    folder = tmp_path / "mnist_m_train"
    folder.mkdir()
    Image.new("RGB", (32, 32)).save(folder / "00000000.png")
    Image.new("RGB", (28, 28)).save(folder / "00000001.png")
    (tmp_path / "labels.txt").write_text("00000000.png 1\n00000001.png 2\n")
    with pytest.raises(DigitFileError, match=r"not 32x32 RGB \(first: 00000001\.png is 28x28\)"):
        read_mnistm_folder(folder, tmp_path / "labels.txt", "train", subset=2)
    Image.new("RGB", (32, 32)).save(folder / "00000001.png")
    with pytest.raises(DigitFileError, match="2 images in the train split, the official train "
                                             "split has 59001"):
        read_mnistm_folder(folder, tmp_path / "labels.txt", "train")


def test_svhn_labels_outside_1_to_10_and_syndigits_labels_outside_0_to_9(tmp_path):
    x = np.zeros((32, 32, 3, 3), np.uint8)
    savemat(tmp_path / "svhn.mat", {"X": x, "y": np.array([[1], [0], [11]], np.uint8)})
    with pytest.raises(DigitFileError, match=r"labels 0, 11 are not whole numbers in 1\.\.10"):
        read_svhn_mat(tmp_path / "svhn.mat", "test", subset=3)
    savemat(tmp_path / "syn.mat", {"X": x, "y": np.array([[0], [9], [10]], np.uint8)})
    with pytest.raises(DigitFileError, match=r"labels 10 are not whole numbers in 0\.\.9"):
        read_syndigits_mat(tmp_path / "syn.mat", "test", subset=3)
    savemat(tmp_path / "syn.mat", {"X": x, "y": np.array([[0], [9], [3]], np.uint8)})
    assert list(read_syndigits_mat(tmp_path / "syn.mat", "test", subset=3)[1]) == [0, 9, 3]
