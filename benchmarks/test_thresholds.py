"""Class-wise (CBST) thresholds: streaming histograms vs the official sort, side by side.

Cityscapes-size prediction maps (19 x 1024 x 2048 softmax) are generated one at
a time from a seeded generator, identically for both paths. The streaming path
keeps a ``ConfidenceHistogram``; the sort-based path must hold every pixel's
confidence (float32) and predicted class (uint8) until it sorts, as the official
code does (it keeps every 4th pixel; here all, like the histogram). Each path
runs in its own subprocess so its peak RSS is its own; a third process that only
generates maps gives the baseline that both share.

    python -m pytest benchmarks/test_thresholds.py --benchmark-enable -s
    BENCH_THRESHOLDS_500=1 python -m pytest benchmarks/test_thresholds.py --benchmark-enable -s

The 500-map case holds ~5 GB of confidences plus the largest class's sort
buffers on the sort-based side and takes tens of minutes on a laptop CPU; it
runs only when ``BENCH_THRESHOLDS_500=1``. A sort-based run killed for memory
is reported as not fitting.
"""

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from harness.selftrain.thresholds import (
    ConfidenceHistogram,
    classwise_thresholds,
    classwise_thresholds_sorted,
)

HEIGHT, WIDTH, CLASSES = 1024, 2048, 19  # Cityscapes full resolution, 19 train ids
PORTION = 0.2  # CBST's first-round portion (see harness.selftrain.thresholds.portion_schedule)
STRIDE = 8  # logits drawn at 1/8 resolution and upsampled, as DeepLab-v2 predicts
ROOT = Path(__file__).resolve().parents[1]


def prediction_map(index: int) -> torch.Tensor:
    """Softmax probabilities [1, C, H, W] of map ``index``: smooth, class-imbalanced."""
    g = torch.Generator().manual_seed(index)
    bias = torch.linspace(3.0, -3.0, CLASSES).view(1, -1, 1, 1)  # road-like to train-like
    logits = 3.0 * torch.randn(1, CLASSES, HEIGHT // STRIDE, WIDTH // STRIDE, generator=g) + bias
    logits = F.interpolate(logits, size=(HEIGHT, WIDTH), mode="bilinear", align_corners=False)
    return torch.softmax(logits, dim=1)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_path(path: str, n_maps: int) -> dict:
    """Thresholds of ``n_maps`` maps by one path; time spent outside map generation."""
    work = 0.0
    if path == "baseline":
        for i in range(n_maps):
            prediction_map(i).max(dim=1)
        return {"peak_rss_mb": _peak_rss_mb()}
    if path == "streaming":
        hist = ConfidenceHistogram(CLASSES)
        for i in range(n_maps):
            probs = prediction_map(i)
            start = time.perf_counter()
            hist.update(probs)
            work += time.perf_counter() - start
        start = time.perf_counter()
        thresholds = classwise_thresholds(hist, PORTION)
        final = time.perf_counter() - start
    else:
        pixels = HEIGHT * WIDTH
        conf = torch.empty(n_maps * pixels, dtype=torch.float32)
        pred = torch.empty(n_maps * pixels, dtype=torch.uint8)
        for i in range(n_maps):
            probs = prediction_map(i)
            start = time.perf_counter()
            c, p = probs.max(dim=1)
            conf[i * pixels : (i + 1) * pixels] = c.reshape(-1)
            pred[i * pixels : (i + 1) * pixels] = p.reshape(-1)
            work += time.perf_counter() - start
        start = time.perf_counter()
        thresholds = classwise_thresholds_sorted(conf, pred, CLASSES, PORTION)
        final = time.perf_counter() - start
    return {
        "peak_rss_mb": _peak_rss_mb(),
        "per_map_s": work,
        "threshold_s": final,
        "total_s": work + final,
        "thresholds": thresholds.tolist(),
    }


def _run_in_subprocess(path: str, n_maps: int) -> dict | None:
    """A fresh process per path, so ``ru_maxrss`` is that path's own peak; None if OOM-killed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, __file__, path, str(n_maps)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode == -9:  # the kernel's OOM killer
        return None
    if proc.returncode != 0:
        raise RuntimeError(f"{path} with {n_maps} maps failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(n_maps: int) -> dict:
    baseline = _run_in_subprocess("baseline", 2)  # generation memory does not grow with maps
    streaming = _run_in_subprocess("streaming", n_maps)
    sorted_ = _run_in_subprocess("sorted", n_maps)
    base = baseline["peak_rss_mb"]
    report = {
        "maps": n_maps,
        "pixels": n_maps * HEIGHT * WIDTH,
        "baseline_peak_rss_mb": round(base, 1),
        "streaming_peak_rss_mb": round(streaming["peak_rss_mb"], 1),
        "streaming_s": round(streaming["total_s"], 2),
        "streaming_threshold_s": round(streaming["threshold_s"], 4),
    }
    if sorted_ is None:
        report["sorted"] = "did not fit in RAM (killed by the OOM killer)"
        return report
    width = 1.0 / ConfidenceHistogram(CLASSES).bins
    gaps = [s - h for s, h in zip(sorted_["thresholds"], streaming["thresholds"])]
    assert all(-1e-7 <= g < width + 1e-7 for g in gaps), gaps
    held_streaming = max(streaming["peak_rss_mb"] - base, 1.0)
    held_sorted = sorted_["peak_rss_mb"] - base
    report.update(
        {
            "sorted_peak_rss_mb": round(sorted_["peak_rss_mb"], 1),
            "sorted_s": round(sorted_["total_s"], 2),
            "sorted_threshold_s": round(sorted_["threshold_s"], 2),
            "peak_rss_ratio_sorted_over_streaming": round(
                sorted_["peak_rss_mb"] / streaming["peak_rss_mb"], 2
            ),
            "held_memory_ratio_sorted_over_streaming": round(held_sorted / held_streaming, 1),
            "time_ratio_sorted_over_streaming": round(sorted_["total_s"] / streaming["total_s"], 2),
            "max_threshold_gap": max(gaps),
        }
    )
    return report


@pytest.mark.benchmark(group="cbst-thresholds")
@pytest.mark.parametrize(
    "n_maps",
    [
        100,
        pytest.param(
            500,
            marks=pytest.mark.skipif(
                os.environ.get("BENCH_THRESHOLDS_500") != "1",
                reason="~5 GB and tens of minutes; set BENCH_THRESHOLDS_500=1",
            ),
        ),
    ],
)
def test_streaming_vs_sorted_thresholds(benchmark, n_maps):
    report = benchmark.pedantic(compare, args=(n_maps,), rounds=1, iterations=1)
    benchmark.extra_info.update(report)
    print("\n" + "\n".join(f"{k:>42}: {v}" for k, v in report.items()))


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    print(json.dumps(run_path(sys.argv[1], int(sys.argv[2]))))
