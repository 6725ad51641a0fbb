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
