import numpy as np
import pytest

from harness.bootstrap import percentile_interval, resample_counts, resampled_sums, two_sided_p


def test_resample_counts_count_the_drawn_indices():
    drawn = np.random.default_rng(0).integers(0, 7, (5, 7))
    counts = resample_counts(np.random.default_rng(0), 5, 7)
    assert counts.sum(1).tolist() == [7] * 5
    assert counts.tolist() == [np.bincount(row, minlength=7).tolist() for row in drawn]


def test_resampled_sums_are_exact_integer_sums():
    counts = np.array([[2_000_000, 1], [3, 5], [7, 0]])
    sums = np.concatenate(list(resampled_sums(counts, 50, np.random.default_rng(1))))
    k = resample_counts(np.random.default_rng(1), 50, 3)
    assert np.array_equal(sums, k @ counts)  # integer matmul as the reference


@pytest.mark.parametrize("deltas, observed, p", [
    ([1.0, 2.0, -1.0, 0.0], 1.0, 1.0),          # 2 of 4 on the other side (0 counts): capped
    ([1.0] * 99, 0.5, 2 / 100),                 # none on the other side: 2 * 1 / (99 + 1)
    ([-1.0] * 9 + [1.0], -0.5, 2 * 2 / 11),     # observed < 0: count the positive ones
    ([1.0, 2.0], 0.0, 1.0),                     # no difference observed
])
def test_two_sided_p(deltas, observed, p):
    assert two_sided_p(np.array(deltas), observed) == pytest.approx(p)


def test_percentile_interval_skips_missing_values():
    values = np.r_[np.arange(101.0), np.nan]
    assert percentile_interval(values, 0.9) == pytest.approx((5.0, 95.0))
    assert percentile_interval(np.array([np.nan]), 0.95) is None
