"""The bootstrap core: resampled sums of per-image counts, percentile intervals, p-values.

A resample of the ``n`` test images is a count vector ``k`` (how often each image was
drawn); the resampled total of any per-image count is ``k @ counts``. Drawing ``R``
resamples at once turns the whole bootstrap into one matrix product ``K @ counts``
(``K``: R x n), done in chunks of resamples so that memory stays bounded.

Written here because scipy.stats.bootstrap resamples the data itself: for mIoU it must
gather R x n per-image C x C matrices, where a resampled sum is one matrix product. Its
draws are reproduced exactly (tests/test_compare.py checks the intervals against it).
"""

from collections.abc import Iterator

import numpy as np

#: Memory for one chunk of resamples (the index, count and float copies of ``K``).
CHUNK_BYTES = 64 * 2**20


def resample_counts(rng: np.random.Generator, rows: int, n: int) -> np.ndarray:
    """``rows`` multinomial count vectors of ``n`` draws with replacement from ``n`` items.

    Drawn as indices exactly as ``scipy.stats.bootstrap`` draws them
    (``rng.integers(0, n, (rows, n))``), so the same Generator state gives scipy's
    resamples, then counted per row with one bincount.
    """
    index = rng.integers(0, n, (rows, n))
    index += n * np.arange(rows)[:, None]
    return np.bincount(index.ravel(), minlength=rows * n).reshape(rows, n)


def resampled_sums(
    counts: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Chunks of ``K @ counts`` (float64, one row per resample) for ``counts`` of shape (n, k).

    float64 keeps BLAS speed and is exact here: every product and partial sum is an integer
    far below 2**53 (500 images of 2048x1024 pixels drawn 500 times sum to ~1e9).
    Consecutive chunks continue the same stream of draws, so the result does not depend
    on the chunk size.
    """
    counts = np.asarray(counts, dtype=np.float64)
    n = counts.shape[0]
    chunk = max(1, min(n_resamples, CHUNK_BYTES // (8 * (3 * n + counts.shape[1]))))
    for start in range(0, n_resamples, chunk):
        k = resample_counts(rng, min(chunk, n_resamples - start), n)
        yield k.astype(np.float64) @ counts


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float] | None:
    """The percentile interval of the finite ``values`` (linear interpolation, as scipy's
    ``method="percentile"``); None when no resample has a value."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def two_sided_p(deltas: np.ndarray, observed: float) -> float:
    """Twice the share of resampled differences on the other side of 0 from ``observed``.

    Resamples exactly at 0 count as the other side, and the +1 correction (the observed
    data counted as one resample) keeps p above 0, as a permutation p-value is.
    """
    deltas = np.asarray(deltas, dtype=np.float64)
    deltas = deltas[np.isfinite(deltas)]
    if observed == 0 or not np.isfinite(observed) or deltas.size == 0:
        return 1.0
    other = np.count_nonzero(deltas <= 0) if observed > 0 else np.count_nonzero(deltas >= 0)
    return min(1.0, 2 * (other + 1) / (deltas.size + 1))
