import io

import numpy as np
import pytest
from rich.console import Console
from scipy import stats

from harness import bootstrap
from harness.compare import (
    CompareError,
    Comparison,
    Metric,
    Run,
    compare,
    compare_table,
    headline_metrics,
    rank_groups,
)
from harness.evaluation.metrics import derive
from harness.names import UnknownNameError
from harness.per_sample import PerImage

ACC = Metric("acc")


def _classified(rng, labels, accuracy, num_classes=3):
    wrong = rng.random(len(labels)) > accuracy
    preds = np.where(wrong, (labels + 1) % num_classes, labels)
    return PerImage.from_predictions(labels, preds, num_classes)


def _segmented(rng, gt_counts, accuracy):
    """Per-image confusion matrices with the given ground-truth counts (N x C)."""
    c = gt_counts.shape[1]
    pvals = np.full((c, c), (1 - accuracy) / (c - 1))
    np.fill_diagonal(pvals, accuracy)
    return rng.multinomial(gt_counts, pvals)


def _miou(matrix):
    return derive(matrix, [str(i) for i in range(len(matrix))])["miou"]


def test_accuracy_intervals_are_scipys_on_the_same_draws():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 200)
    a, b = _classified(rng, labels, 0.8), _classified(rng, labels, 0.75)
    result = compare([Run(0, a)], [Run(0, b)], ACC, n_resamples=3000, seed=7)

    correct_a = (a.gt == a.pred).astype(float)
    correct_b = (b.gt == b.pred).astype(float)

    def accuracy(x, axis=-1):
        return 100.0 * x.sum(axis) / x.shape[axis]

    one = stats.bootstrap((correct_a,), accuracy, method="percentile", n_resamples=3000,
                          rng=np.random.default_rng(7))
    both = stats.bootstrap((correct_a, correct_b), lambda x, y, axis=-1:
                           accuracy(x, axis) - accuracy(y, axis), paired=True,
                           method="percentile", n_resamples=3000, rng=np.random.default_rng(7))
    # The same draws give the same resampled accuracies k/N; only the last bit of a
    # subtraction or quantile interpolation may differ between the two computations.
    np.testing.assert_allclose(result.interval_a, tuple(one.confidence_interval), rtol=1e-12)
    np.testing.assert_allclose(result.interval, tuple(both.confidence_interval), rtol=1e-12)
    assert result.delta == pytest.approx(100 * (correct_a.mean() - correct_b.mean()))


def test_miou_interval_is_scipys_on_summed_resampled_matrices():
    rng = np.random.default_rng(2)
    gt = rng.integers(0, 50, (40, 4))
    gt[:, 3] *= rng.random(40) < 0.3  # a rare class: absent from most images
    ma, mb = _segmented(rng, gt, 0.7), _segmented(rng, gt, 0.6)
    metric = Metric("mIoU", (0, 1, 2, 3))
    result = compare([Run(0, PerImage.from_confusion(ma))], [Run(0, PerImage.from_confusion(mb))],
                     metric, n_resamples=2000, seed=3)

    def miou(flat, axis=-1):  # flat: (C*C, resamples, N) resampled matrices
        m = flat.sum(axis).reshape(4, 4, -1)
        tp = np.einsum("iir->ir", m)
        iou = 100.0 * tp / (m.sum(0) + m.sum(1) - tp)
        return np.nanmean(iou, axis=0)

    ref = stats.bootstrap((ma.reshape(40, 16).T, mb.reshape(40, 16).T),
                          lambda x, y, axis=-1: miou(x, axis) - miou(y, axis), paired=True,
                          axis=-1, method="percentile", n_resamples=2000,
                          rng=np.random.default_rng(3))
    # Same draws and the same integer sums; the mean over classes adds in another order.
    np.testing.assert_allclose(result.interval, tuple(ref.confidence_interval), atol=1e-10)
    assert result.delta == pytest.approx(_miou(ma.sum(0)) - _miou(mb.sum(0)), abs=1e-10)


def test_one_differing_image_of_many_is_not_significant():
    n = 1000
    labels = np.arange(n) % 3
    preds_b = labels.copy()
    preds_b[0] = 1  # B misses image 0, which A gets right; all else equal
    a = PerImage.from_predictions(labels, labels, 3)
    b = PerImage.from_predictions(labels, preds_b, 3)
    result = compare([Run(0, a)], [Run(0, b)], ACC, seed=0)
    assert result.delta == pytest.approx(100 / n)
    assert result.interval[0] == 0 <= result.interval[1]
    # Δ* <= 0 exactly when image 0 is not drawn: probability (1 - 1/n)^n, doubled.
    assert result.p_value == pytest.approx(2 * (1 - 1 / n) ** n, abs=0.03)
    assert not result.significant()


def test_summed_matrix_rule_not_mean_of_per_image_iou():
    # A is perfect on a large image and poor on a small one; B the other way round.
    big_a, big_b = [[500, 0], [0, 500]], [[450, 50], [50, 450]]
    small_a, small_b = [[5, 0], [5, 0]], [[5, 0], [0, 5]]
    ma, mb = np.array([big_a, small_a]), np.array([big_b, small_b])
    result = compare([Run(0, PerImage.from_confusion(ma))], [Run(0, PerImage.from_confusion(mb))],
                     Metric("mIoU", (0, 1)), n_resamples=200)

    summed_a = 100 * (505 / 510 + 500 / 505) / 2  # [[505, 0], [5, 500]]
    summed_b = 100 * 455 / 555                    # [[455, 50], [50, 455]]
    per_image_a = 100 * (1.0 + (5 / 10 + 0 / 5) / 2) / 2
    per_image_b = 100 * (450 / 550 + 1.0) / 2
    assert result.value_a == pytest.approx(summed_a) == _miou(ma.sum(0))
    assert result.value_b == pytest.approx(summed_b)
    assert result.delta == pytest.approx(summed_a - summed_b) and result.delta > 0
    assert np.mean([_miou(m) for m in ma]) == pytest.approx(per_image_a)
    assert per_image_a - per_image_b < 0  # the per-image mean would rank them the other way


def test_deterministic_for_a_seed_whatever_the_chunk_size(monkeypatch):
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, 300)
    a = [Run(s, _classified(rng, labels, 0.8)) for s in (0, 1)]
    b = [Run(s, _classified(rng, labels, 0.78)) for s in (2, 3, 4)]  # two-level
    first = compare(a, b, ACC, n_resamples=500, seed=11)
    assert first.scheme == "two-level"
    assert compare(a, b, ACC, n_resamples=500, seed=11).to_json() == first.to_json()
    assert compare(a, b, ACC, n_resamples=500, seed=12).interval != first.interval
    monkeypatch.setattr(bootstrap, "CHUNK_BYTES", 8 * 300 * 37)  # chunks of 36 resamples
    assert compare(a, b, ACC, n_resamples=500, seed=11).to_json() == first.to_json()


def test_seed_schemes_on_images_without_variation():
    # Every image has the same matrix, so image resampling changes nothing: the only
    # spread left is between seeds (A: 60% and 80% accuracy, B: 50%).
    def run(seed, correct):
        return Run(seed, PerImage.from_confusion(np.tile([[correct, 10 - correct], [0, 0]],
                                                         (20, 1, 1))))

    a = [run(0, 6), run(1, 8)]
    paired = compare(a, [run(0, 5), run(1, 5)], ACC, n_resamples=4000)
    assert paired.scheme == "paired seeds"
    assert paired.delta == pytest.approx(20) and paired.interval == pytest.approx((20, 20))
    # Two-level: A's mean over 2 seeds drawn with replacement is 60, 70 or 80
    # (probabilities 1/4, 1/2, 1/4), so the 2.5% and 97.5% points are 60 and 80.
    two = compare(a, [run(2, 5), run(3, 5)], ACC, n_resamples=4000)
    assert two.scheme == "two-level"
    assert two.delta == pytest.approx(20) and two.interval == pytest.approx((10, 30))
    assert two.p_value == pytest.approx(2 / 4001)


def test_per_class_deltas_follow_the_summed_matrices():
    rng = np.random.default_rng(5)
    gt = rng.integers(0, 40, (30, 4))
    gt[:, 3] = 0  # class 3 is never present nor predicted: no IoU, no interval
    ma, mb = _segmented(rng, gt[:, :3], 0.7), _segmented(rng, gt[:, :3], 0.65)
    pad = ((0, 0), (0, 1), (0, 1))
    ma, mb = np.pad(ma, pad), np.pad(mb, pad)
    names = ["road", "car", "sky", "train"]
    result = compare([Run(0, PerImage.from_confusion(ma))], [Run(0, PerImage.from_confusion(mb))],
                     Metric("mIoU 2", (0, 2)), n_resamples=500, per_class=True,
                     class_names=names)
    iou_a, iou_b = derive(ma.sum(0), names)["iou"], derive(mb.sum(0), names)["iou"]
    assert [c.name for c in result.per_class] == names
    for row, ia, ib in zip(result.per_class[:3], iou_a, iou_b):
        assert row.delta == pytest.approx(ia - ib) and row.interval[0] <= row.interval[1]
    assert result.per_class[3].delta is None and result.per_class[3].interval is None
    assert result.delta == pytest.approx((iou_a[0] + iou_a[2] - iou_b[0] - iou_b[2]) / 2)


def test_rank_groups_against_the_best():
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 3, 2000)
    best = _classified(rng, labels, 0.9)
    preds = best.pred.copy()
    preds[0] = (preds[0] + 1) % 3  # one image differs
    runs = {"best": [Run(0, best)],
            "close": [Run(0, PerImage.from_predictions(labels, preds, 3))],
            "worse": [Run(0, _classified(rng, labels, 0.8))]}
    assert rank_groups(runs, "best", ACC, n_resamples=1000) == \
        {"best": False, "close": False, "worse": True}
    with pytest.raises(UnknownNameError, match="best"):
        rank_groups(runs, "bset", ACC)


def test_runs_on_other_images_or_repeated_seeds_are_refused():
    labels = np.arange(50) % 3
    a = PerImage.from_predictions(labels, labels, 3)
    shuffled = PerImage.from_predictions(labels[::-1], labels[::-1], 3)
    with pytest.raises(CompareError, match="same test images"):
        compare([Run(0, a)], [Run(0, shuffled)], ACC)
    with pytest.raises(CompareError, match="one run per seed"):
        compare([Run(0, a), Run(0, a)], [Run(0, a)], ACC)


def test_table_and_json():
    labels = np.arange(300) % 3
    rng = np.random.default_rng(8)
    result = compare([Run(0, _classified(rng, labels, 0.9))],
                     [Run(0, _classified(rng, labels, 0.7))], ACC, names=("cbst", "source_only"),
                     n_resamples=500)
    assert Comparison.model_validate_json(result.to_json()) == result
    out = io.StringIO()
    Console(file=out, width=200).print(compare_table(result))
    text = out.getvalue()
    assert "cbst vs source_only: acc" in text and f"{result.delta:+.2f}" in text
    assert f"{result.p_value:.3g}" in text and "over 300 test images" in text


def test_headline_metrics_name_the_leaderboards_columns(make_record):
    seg = make_record(task="segmentation", classes=("road", "car", "sky"),
                      subsets={"two": ["sky", "road"]})
    seg = seg.model_copy(update={"classes": seg.classes.model_copy(
        update={"subsets": ["all", "two"]})})
    assert headline_metrics(seg) == [Metric("mIoU", (0, 1, 2)), Metric("mIoU two", (2, 0))]
    assert headline_metrics(make_record()) == [Metric("acc")]
