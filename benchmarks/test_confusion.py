"""Confusion-matrix update at 2048x1024, batch 4: ours vs mmseg's IoUMetric.process.

Same tensors, side by side (pytest-benchmark group); the issue's target is at least
3x mmseg's throughput on CPU.
"""

import pytest
import torch

from harness.evaluation.confusion import StreamingConfusion
from harness.registry import METRICS  # noqa: F401  (installs the mmcv stand-in for mmseg)


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(0)
    pred = torch.randint(0, 19, (4, 1024, 2048), generator=g)
    gt = torch.randint(0, 19, (4, 1024, 2048), generator=g)
    gt[:, :100] = 255
    return pred, gt


@pytest.mark.benchmark(group="confusion-2048x1024-b4")
def test_ours(benchmark, batch):
    conf = StreamingConfusion(19)
    benchmark(conf.update, *batch)


@pytest.mark.benchmark(group="confusion-2048x1024-b4")
def test_mmseg_iou_metric(benchmark, batch):
    from mmengine.structures import PixelData
    from mmseg.evaluation.metrics import IoUMetric
    from mmseg.structures import SegDataSample

    metric = IoUMetric(ignore_index=255)
    metric.dataset_meta = {"classes": [str(i) for i in range(19)]}
    samples = []
    for p, g in zip(*batch):
        s = SegDataSample()
        s.pred_sem_seg = PixelData(data=p[None])
        s.gt_sem_seg = PixelData(data=g[None])
        samples.append(s.to_dict())
    benchmark(metric.process, {}, samples)


CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def cuda_batch(batch):
    return tuple(t.cuda() for t in batch)


def _gbps(benchmark, tensors) -> None:
    """Bytes read per call over the mean time, in the benchmark's extra info."""
    nbytes = sum(t.numel() * t.element_size() for t in tensors)
    benchmark.extra_info["GB/s"] = nbytes / benchmark.stats.stats.mean / 1e9


@pytest.mark.skipif(not CUDA, reason="needs CUDA")
@pytest.mark.benchmark(group="confusion-2048x1024-b4-cuda")
def test_ours_cuda(benchmark, cuda_batch):
    conf = StreamingConfusion(19, device="cuda")

    def update():
        conf.update(*cuda_batch)
        torch.cuda.synchronize()

    benchmark(update)
    _gbps(benchmark, cuda_batch)


@pytest.mark.skipif(not CUDA, reason="needs CUDA")
@pytest.mark.benchmark(group="confusion-2048x1024-b4-cuda")
def test_device_copy_cuda(benchmark, cuda_batch):
    """The floor: reading the same tensors once (a device-to-device copy)."""

    def copy():
        for t in cuda_batch:
            t.clone()
        torch.cuda.synchronize()

    benchmark(copy)
    _gbps(benchmark, cuda_batch)
