import numpy as np
import pytest

from harness.per_sample import (
    PerImage,
    SamplesError,
    encode_samples,
    read_samples,
    samples_path,
    write_samples,
)


def _same(x: PerImage, y: PerImage) -> bool:
    return (x.n_images, x.num_classes) == (y.n_images, y.num_classes) and all(
        np.array_equal(getattr(x, k), getattr(y, k)) for k in ("image", "gt", "pred", "count"))


def test_classification_is_the_one_hot_case_of_segmentation():
    labels, preds = np.array([0, 2, 1, 2]), np.array([0, 1, 1, 2])
    one_hot = np.zeros((4, 3, 3), dtype=int)
    one_hot[np.arange(4), labels, preds] = 1
    a, b = PerImage.from_predictions(labels, preds, 3), PerImage.from_confusion(one_hot)
    assert _same(a, b)
    # Image 1 (label 2 predicted 1): class 2 in ground truth, class 1 predicted, no hit.
    assert a.columns([1, 2])[1].tolist() == [0, 0, 0, 1, 1, 0]
    assert a.columns(None)[:, 0].tolist() == [1, 0, 1, 1]  # correct per image


def test_columns_are_diagonal_row_and_column_sums():
    m = np.random.default_rng(0).integers(0, 9, (5, 4, 4))
    cols = PerImage.from_confusion(m).columns([3, 0])
    assert np.array_equal(cols[:, :2], np.diagonal(m, axis1=1, axis2=2)[:, [3, 0]])
    assert np.array_equal(cols[:, 2:4], m.sum(2)[:, [3, 0]])
    assert np.array_equal(cols[:, 4:], m.sum(1)[:, [3, 0]])


def test_side_file_round_trip_beside_the_record(tmp_path):
    m = np.zeros((3, 19, 19), dtype=np.int64)
    m[:, 0, 0], m[1, 4, 7], m[2, 18, 18] = 2048 * 1024, 5, 70_000
    samples = PerImage.from_confusion(m)
    blob, digest = encode_samples(samples)
    record = tmp_path / "proto" / "abc123.json"
    path = write_samples(record, blob)
    assert path == samples_path(record) == tmp_path / "proto" / "abc123.samples.npz"
    assert _same(read_samples(path, digest), samples)


def test_changed_or_missing_side_file_is_named(tmp_path):
    labels = np.arange(10) % 3
    blob, digest = encode_samples(PerImage.from_predictions(labels, labels, 3))
    path = write_samples(tmp_path / "r1.json", blob)
    other, _ = encode_samples(PerImage.from_predictions(labels, (labels + 1) % 3, 3))
    path.write_bytes(other)
    with pytest.raises(SamplesError, match=r"r1\.samples\.npz: sha256 .* does not match"):
        read_samples(path, digest)
    with pytest.raises(SamplesError, match="r2.samples.npz: cannot read"):
        read_samples(tmp_path / "r2.samples.npz", digest)


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="pred ids must lie in 0..2"):
        PerImage.from_predictions([0, 1], [0, 3], 3)
