"""Paired bootstrap, 10,000 resamples over 500 images x 19 classes: ``compare`` (one matrix
product per chunk of resamples) vs a plain Python loop over resamples.

Side by side (pytest-benchmark group). The loop runs 500 resamples; its time per
10,000 resamples (x20) is in its extra info. Target: the vectorised one under 2 s on 2 cores.
"""

import numpy as np
import pytest

from harness.bootstrap import percentile_interval
from harness.compare import Metric, Run, compare
from harness.per_sample import PerImage

N, C, RESAMPLES, LOOP_RESAMPLES = 500, 19, 10_000, 500
MIOU = Metric("mIoU", tuple(range(C)))


@pytest.fixture(scope="module")
def matrices():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 100_000, (N, C)) * (rng.random((N, C)) < 0.6)  # classes absent too
    out = []
    for accuracy in (0.7, 0.68):
        pvals = np.full((C, C), (1 - accuracy) / (C - 1))
        np.fill_diagonal(pvals, accuracy)
        out.append(rng.multinomial(gt, pvals))
    return out


def _miou(m: np.ndarray) -> float:
    tp = np.diag(m)
    union = m.sum(0) + m.sum(1) - tp
    return float(np.mean(100.0 * tp[union > 0] / union[union > 0]))


def loop_interval(ma, mb, n_resamples, seed=0):
    """One resample at a time: gather the drawn images' matrices, sum, score."""
    rng = np.random.default_rng(seed)
    deltas = []
    for _ in range(n_resamples):
        idx = rng.integers(0, N, (1, N))[0]  # the draws compare() makes, row by row
        deltas.append(_miou(ma[idx].sum(0)) - _miou(mb[idx].sum(0)))
    return percentile_interval(np.array(deltas), 0.95)


def _runs(matrices):
    return [[Run(0, PerImage.from_confusion(m))] for m in matrices]


@pytest.mark.benchmark(group="bootstrap-10000x500x19")
def test_vectorised(benchmark, matrices):
    a, b = _runs(matrices)
    result = benchmark(compare, a, b, MIOU, n_resamples=RESAMPLES)
    assert result.interval[0] < result.delta < result.interval[1]


@pytest.mark.benchmark(group="bootstrap-10000x500x19")
def test_python_loop(benchmark, matrices):
    a, b = _runs(matrices)
    # Same draws, same numbers: the loop is a fair twin of the vectorised path.
    reference = compare(a, b, MIOU, n_resamples=LOOP_RESAMPLES).interval
    interval = benchmark.pedantic(loop_interval, args=(*matrices, LOOP_RESAMPLES), rounds=3)
    np.testing.assert_allclose(interval, reference, atol=1e-9)
    benchmark.extra_info["loop resamples"] = LOOP_RESAMPLES
    benchmark.extra_info["s per 10,000 resamples"] = (
        benchmark.stats.stats.mean * RESAMPLES / LOOP_RESAMPLES)
