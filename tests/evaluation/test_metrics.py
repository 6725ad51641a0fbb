import numpy as np
import pytest
import torch
from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

from harness.evaluation.confusion import LabelRangeError, StreamingConfusion
from harness.evaluation.metrics import derive


def random_batches(seed, n_classes=5, batches=4, shape=(3, 17, 23), p_ignore=0.1):
    g = torch.Generator().manual_seed(seed)
    for _ in range(batches):
        gt = torch.randint(0, n_classes, shape, generator=g)
        gt[torch.rand(shape, generator=g) < p_ignore] = 255
        pred = torch.randint(0, n_classes, shape, generator=g)
        yield pred, gt


def test_matrix_matches_a_plain_count():
    conf = StreamingConfusion(4)
    pred = torch.tensor([0, 1, 1, 3, 2, 2])
    gt = torch.tensor([0, 1, 2, 255, 2, 3])
    conf.update(pred, gt)
    expected = np.zeros((4, 4), dtype=np.int64)
    for p, g in zip(pred.tolist(), gt.tolist()):
        if g != 255:
            expected[g, p] += 1
    assert (conf.matrix.numpy() == expected).all()


def test_hand_computed_metrics_and_missing_class():
    # gt rows, pred columns; class 3 never appears in gt nor prediction.
    m = np.array([[3, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    out = derive(m, ["a", "b", "c", "d"], {"ab": [0, 1], "cd": [2, 3]})
    assert out["iou"][0] == pytest.approx(100 * 3 / 5)       # tp 3, gt 4, pred 4
    assert out["iou"][1] == pytest.approx(100 * 2 / 3)       # tp 2, gt 2, pred 3
    assert out["iou"][2] == 0.0                               # in gt, never right
    assert out["iou"][3] is None and out["missing"] == ["d"]  # 0/0: missing, not 0
    assert out["miou"] == pytest.approx((60 + 200 / 3 + 0) / 3)
    assert out["pixel_acc"] == pytest.approx(100 * 5 / 7)
    assert out["acc"] == [pytest.approx(75.0), pytest.approx(100.0), 0.0, None]
    assert out["fwiou"] == pytest.approx((4 * 60 + 2 * 200 / 3 + 1 * 0) / 7)
    assert out["subsets"]["ab"]["miou"] == pytest.approx((60 + 200 / 3) / 2)
    assert out["subsets"]["cd"]["miou"] == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_torchmetrics(seed):
    n = 6
    conf = StreamingConfusion(n)
    jac = MulticlassJaccardIndex(n, average="none", ignore_index=255)
    acc = MulticlassAccuracy(n, average="micro", ignore_index=255)
    for pred, gt in random_batches(seed, n):
        conf.update(pred, gt)
        jac.update(pred, gt)
        acc.update(pred, gt)
    out = derive(conf.matrix.numpy(), [str(i) for i in range(n)])
    np.testing.assert_allclose(out["iou"], 100 * jac.compute().numpy(), rtol=1e-6)
    assert out["pixel_acc"] == pytest.approx(100 * float(acc.compute()), rel=1e-6)


def test_against_mmseg_iou_metric():
    from mmseg.evaluation.metrics import IoUMetric

    from harness.registry import METRICS  # noqa: F401  (installs the mmcv stand-in)

    n = 5
    conf = StreamingConfusion(n)
    ref = IoUMetric(ignore_index=255, iou_metrics=["mIoU"])
    ref.dataset_meta = {"classes": [str(i) for i in range(n)]}
    results = []
    for pred, gt in random_batches(3, n):
        conf.update(pred, gt)
        for p, g in zip(pred, gt):
            results.append(IoUMetric.intersect_and_union(p, g, n, 255))
    out = derive(conf.matrix.numpy(), [str(i) for i in range(n)])
    ref_metrics = ref.compute_metrics(results)
    assert out["miou"] == pytest.approx(ref_metrics["mIoU"], abs=0.01)  # mmseg rounds to 0.01
    assert out["pixel_acc"] == pytest.approx(ref_metrics["aAcc"], abs=0.01)


def test_out_of_range_labels_are_errors_not_dropped():
    conf = StreamingConfusion(3)
    with pytest.raises(LabelRangeError, match=r"label ids \[7\]"):
        conf.update(torch.tensor([0, 1]), torch.tensor([7, 1]), source="img_001.png")
    with pytest.raises(LabelRangeError, match="prediction ids"):
        conf.update(torch.tensor([0, 5]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="upsample"):
        conf.update(torch.zeros(2, 3), torch.zeros(2, 4))


def test_ignore_index_is_not_counted():
    conf = StreamingConfusion(2)
    conf.update(torch.tensor([1, 1, 0]), torch.tensor([255, 255, 0]))
    assert int(conf.matrix.sum()) == 1


@pytest.mark.parametrize("bad", [3, 254, 256, 1000, -1])
def test_every_kind_of_stray_label_is_reported(bad):
    conf = StreamingConfusion(3)
    with pytest.raises(LabelRangeError, match=rf"label ids \[{bad}\]"):
        conf.update(torch.tensor([0, 1, 2]), torch.tensor([0, bad, 255]))
    assert int(conf.matrix.sum()) == 0  # nothing of the bad batch was counted
