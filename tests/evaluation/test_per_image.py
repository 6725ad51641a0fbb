"""The metric's per-image counts: each image's own confusion, summing to the matrix."""

import numpy as np
import pytest
import torch

from harness.evaluation.confusion import LabelRangeError, StreamingConfusion
from harness.evaluation.metric import ConfusionMetric

N = 4


def _count(pred, gt):
    """Reference: a plain per-pixel loop."""
    m = np.zeros((N, N), dtype=np.int64)
    for p, g in zip(pred.reshape(-1).tolist(), gt.reshape(-1).tolist()):
        if g != 255:
            m[g, p] += 1
    return m


def test_segmentation_counts_are_each_images_confusion_in_order():
    g = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(3):
        gt = torch.randint(0, N, (2, 5, 6), generator=g)
        gt[torch.rand(gt.shape, generator=g) < 0.2] = 255
        batches.append((torch.randint(0, N, (2, 5, 6), generator=g), gt))
    batches[1][1][0] = 255  # an image without a labelled pixel keeps its place
    metric = ConfusionMetric([str(i) for i in range(N)])
    for pred, gt in batches:
        metric.process({}, [{"pred": pred, "gt": gt}])
    metric.evaluate(size=6)
    s = metric.last_samples
    assert (s.n_images, s.num_classes) == (6, N)
    images = [(p, t) for pred, gt in batches for p, t in zip(pred, gt)]
    for i, (pred, gt) in enumerate(images):
        mine = np.zeros((N, N), dtype=np.int64)
        keep = s.image == i
        np.add.at(mine, (s.gt[keep], s.pred[keep]), s.count[keep])
        assert np.array_equal(mine, _count(pred, gt))
    assert not (s.image == 2).any()
    assert np.array_equal(metric.last_matrix, sum(_count(p, t) for p, t in images))


def test_classification_keeps_label_and_prediction_per_image():
    metric = ConfusionMetric([str(i) for i in range(N)])
    metric.process({}, [{"pred": torch.tensor([0, 1, 3]), "gt": torch.tensor([0, 2, 3])}])
    metric.process({}, [{"pred": torch.tensor([2]), "gt": torch.tensor([1])}])
    metric.evaluate(size=4)
    s = metric.last_samples
    assert s.image.tolist() == [0, 1, 2, 3] and s.count.tolist() == [1, 1, 1, 1]
    assert s.gt.tolist() == [0, 2, 3, 1] and s.pred.tolist() == [0, 1, 3, 2]


def test_per_image_update_still_reports_stray_labels_of_any_image():
    conf = StreamingConfusion(N)
    gt = torch.zeros(3, 2, 2, dtype=torch.int64)
    gt[2, 1, 1] = 7  # in the last image, past the class range
    with pytest.raises(LabelRangeError, match=r"label ids \[7\]"):
        conf.update(torch.zeros_like(gt), gt, per_image=True)
    gt[2, 1, 1] = -1
    with pytest.raises(LabelRangeError, match=r"label ids \[-1\]"):
        conf.update(torch.zeros_like(gt), gt, per_image=True)
