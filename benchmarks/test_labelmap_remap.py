"""Label remap by lookup table vs a per-class loop, and loader throughput on fixtures.

Run: python -m pytest benchmarks/test_labelmap_remap.py --benchmark-enable -s
Each remap test benchmarks the lookup table and times the per-class loop on the
same array in the same run; the speed-up is printed and stored in extra_info.
"""

import timeit

import numpy as np
import pytest
import torch

from harness.data.fixtures import write_fixtures
from harness.data.labelmaps import get_labelmap
from harness.data.seg_base import seg_dataset_class


def per_class_loop(raw, labelmap):
    """The usual per-class remap (reading the raw array, so not chained)."""
    out = np.full(raw.shape, 255, dtype=np.uint8)
    for raw_id, train_id in labelmap.mapping.items():
        out[raw == raw_id] = train_id
    return out


@pytest.mark.parametrize("name, shape", [("gta5", (1024, 2048)), ("synthia", (760, 1280))])
def test_remap_lut_vs_per_class_loop(benchmark, name, shape):
    labelmap = get_labelmap(name)
    valid = np.flatnonzero(labelmap.valid)
    raw = np.random.default_rng(0).choice(valid, size=shape).astype(labelmap.dtype)
    assert (labelmap.remap(raw) == per_class_loop(raw, labelmap)).all()
    benchmark.group = f"remap {name} {shape[1]}x{shape[0]}"
    benchmark(labelmap.remap, raw)
    loop = min(timeit.repeat(lambda: per_class_loop(raw, labelmap), number=3, repeat=3)) / 3
    ratio = loop / benchmark.stats.stats.min
    benchmark.extra_info["per_class_loop_s"] = loop
    benchmark.extra_info["speedup_vs_per_class_loop"] = ratio
    print(
        f"\n{name} {shape[1]}x{shape[0]}: LUT {benchmark.stats.stats.min * 1e3:.2f} ms, "
        f"per-class loop {loop * 1e3:.2f} ms, ratio {ratio:.1f}x"
    )


# Evaluation / training sizes of the protocols (W, H), fixtures written at that size.
LOADER_CASES = {
    "cityscapes": ("val", {}, (2048, 1024)),
    "gta5": ("train", {}, (1280, 720)),
    "synthia": ("train", {}, (1280, 760)),
    "nthu": ("test", {"city": "Rome"}, (2048, 1024)),
    "bdd100k": ("val", {}, (1280, 720)),
}


@pytest.mark.parametrize("name", list(LOADER_CASES))
def test_loader_throughput(benchmark, tmp_path, name):
    split, options, size = LOADER_CASES[name]
    n = 8
    root = write_fixtures(name, tmp_path, n_per_split=n, size=size)
    ds = seg_dataset_class(name)(str(root), split, **options)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=1, num_workers=2, persistent_workers=True, collate_fn=lambda b: b
    )
    benchmark.group = "loader images/s (2 workers)"
    benchmark.pedantic(lambda: sum(1 for _ in loader), rounds=3, iterations=1, warmup_rounds=1)
    rate = n / benchmark.stats.stats.mean
    benchmark.extra_info["images_per_s"] = rate
    print(f"\n{name} {size[0]}x{size[1]}: {rate:.1f} images/s")
