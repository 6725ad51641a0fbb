"""Streaming thresholds against sort-based and plainly written references."""

import socket

import numpy as np
import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp

from harness.selftrain.thresholds import (
    ConfidenceHistogram,
    SpatialPrior,
    classwise_thresholds,
    classwise_thresholds_sorted,
    global_threshold,
    global_threshold_sorted,
    portion_schedule,
    select_pseudo_labels,
)


def _probs(kind: str, num_classes: int, shape=(3, 40, 50), seed=0) -> torch.Tensor:
    """Class probabilities [B, C, H, W] of a few shapes of confidence distribution."""
    g = torch.Generator().manual_seed(seed)
    b, h, w = shape
    if kind == "dirichlet":  # broad confidences, balanced classes
        alpha = torch.ones(num_classes).expand(b * h * w, num_classes)
        flat = torch.distributions.Dirichlet(alpha).sample()
        return flat.T.reshape(num_classes, b, h, w).transpose(0, 1).contiguous()
    logits = torch.randn(b, num_classes, h, w, generator=g)
    if kind == "imbalanced":  # a few big classes, a long tail of rare ones
        bias = torch.linspace(4.0, -4.0, num_classes).view(1, -1, 1, 1)
        logits = 2.0 * logits + bias
    elif kind == "peaked":  # confidences piled up just below 1, as a trained segmenter's
        logits = 12.0 * logits
    return torch.softmax(logits, dim=1)


def _numpy_kth_largest(values: np.ndarray, portion: float) -> float:
    k = int(np.floor(values.size * portion))
    return 1.0 if k == 0 else float(np.sort(values)[::-1][k - 1])


# --- sort-based references against numpy and a hand-computed case ------------------------


def test_sorted_references_hand_case():
    conf = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.95, 0.55, 0.3])
    pred = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1])
    # class 0: k = floor(5 * 0.4) = 2 -> 0.8; class 1: floor(3 * 0.4) = 1 -> 0.95; class 2 empty
    expected = torch.tensor([0.8, 0.95, 1.0], dtype=torch.float64)
    got = classwise_thresholds_sorted(conf, pred, 3, 0.4)
    torch.testing.assert_close(got, expected, atol=1e-7, rtol=0)
    # all 8: k = floor(8 * 0.4) = 3 -> 0.8 (0.95, 0.9, 0.8)
    assert global_threshold_sorted(conf, 0.4) == pytest.approx(0.8)


@pytest.mark.parametrize("portion", [0.05, 0.2, 0.5])
def test_sorted_references_match_numpy(portion):
    probs = _probs("imbalanced", 19)
    conf, pred = probs.max(dim=1)
    got = classwise_thresholds_sorted(conf, pred, 19, portion)
    c_np, p_np = conf.numpy().ravel(), pred.numpy().ravel()
    expected = [_numpy_kth_largest(c_np[p_np == c], portion) for c in range(19)]
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-7)
    assert global_threshold_sorted(conf, portion) == pytest.approx(
        _numpy_kth_largest(c_np, portion), abs=1e-7
    )


# --- histogram thresholds equal the sort-based ones within one bin -----------------------


@pytest.mark.parametrize("kind", ["imbalanced", "peaked", "dirichlet"])
@pytest.mark.parametrize("num_classes,bins", [(19, 10_000), (60, 1_000)])
def test_histogram_within_one_bin_of_sort(kind, num_classes, bins):
    probs = _probs(kind, num_classes, seed=num_classes)
    hist = ConfidenceHistogram(num_classes, bins=bins)
    for batch in probs.split(1):  # streamed image by image
        hist.update(batch)
    conf, pred = probs.max(dim=1)
    assert int(hist.counts.sum()) == conf.numel()
    width = hist.bin_width
    for portion in (0.01, 0.2, 0.35, 0.5, 0.9):
        streamed = classwise_thresholds(hist, portion)
        exact = classwise_thresholds_sorted(conf, pred, num_classes, portion)
        gap = exact - streamed  # the lower bin edge: never above, less than a bin below
        assert bool((gap >= -1e-7).all()) and bool((gap < width + 1e-7).all()), (portion, gap)
        g_gap = global_threshold_sorted(conf, portion) - global_threshold(hist, portion)
        assert -1e-7 <= g_gap < width + 1e-7


def test_histogram_selects_at_least_the_portion():
    probs = _probs("peaked", 19)
    hist = ConfidenceHistogram(19, bins=1_000)
    hist.update(probs)
    conf, pred = probs.max(dim=1)
    thresholds = classwise_thresholds(hist, 0.3)
    for c in range(19):
        values = conf[pred == c]
        if values.numel():
            selected = int((values >= thresholds[c]).sum())
            assert selected >= int(np.floor(values.numel() * 0.3))


def test_classification_probs_without_spatial_dims():
    probs = torch.softmax(torch.randn(500, 10, generator=torch.Generator().manual_seed(3)), 1)
    hist = ConfidenceHistogram(10)
    hist.update(probs)
    hist.update(probs[:0])  # an empty batch adds nothing
    assert int(hist.counts.sum()) == 500
    conf, pred = probs.max(dim=1)
    gap = classwise_thresholds_sorted(conf, pred, 10, 0.2) - classwise_thresholds(hist, 0.2)
    assert bool((gap >= -1e-7).all()) and bool((gap < hist.bin_width + 1e-7).all())


# --- empty classes, portion edge cases, bad input ----------------------------------------


def test_empty_and_tiny_classes_get_threshold_one():
    probs = torch.zeros(1, 4, 1, 6)
    probs[0, 0, 0, :] = 0.7  # class 0 predicted on 5 pixels, class 1 on 1, classes 2-3 never
    probs[0, 1, 0, :] = 0.1
    probs[0, 0, 0, 5], probs[0, 1, 0, 5] = 0.1, 0.8
    probs[0, 2:, 0, :] = 0.1
    hist = ConfidenceHistogram(4)
    hist.update(probs)
    conf, pred = probs.max(dim=1)
    for thresholds in (
        classwise_thresholds(hist, 0.5),
        classwise_thresholds_sorted(conf, pred, 4, 0.5),
    ):
        # class 0: floor(5 * .5) = 2 -> 0.7; class 1: floor(1 * .5) = 0 -> 1; 2, 3 empty -> 1
        torch.testing.assert_close(
            thresholds, torch.tensor([0.7, 1.0, 1.0, 1.0], dtype=torch.float64), atol=1e-4, rtol=0
        )
    labels = select_pseudo_labels(probs, classwise_thresholds_sorted(conf, pred, 4, 0.5))
    assert labels.tolist() == [[[0, 0, 0, 0, 0, 255]]]


def test_portion_zero_and_one():
    probs = _probs("imbalanced", 19)
    conf, pred = probs.max(dim=1)
    hist = ConfidenceHistogram(19)
    hist.update(probs)
    ones = torch.ones(19, dtype=torch.float64)
    torch.testing.assert_close(classwise_thresholds(hist, 0.0), ones)
    torch.testing.assert_close(classwise_thresholds_sorted(conf, pred, 19, 0.0), ones)
    assert global_threshold(hist, 0.0) == global_threshold_sorted(conf, 0.0) == 1.0
    # portion 1: each class's smallest confidence, so every pixel is selected
    exact = classwise_thresholds_sorted(conf, pred, 19, 1.0)
    minima = torch.tensor(
        [float(conf[pred == c].min()) if (pred == c).any() else 1.0 for c in range(19)],
        dtype=torch.float64,
    )
    torch.testing.assert_close(exact, minima)
    assert global_threshold_sorted(conf, 1.0) == pytest.approx(float(conf.min()))
    assert bool((select_pseudo_labels(probs, exact) != 255).all())
    assert bool((select_pseudo_labels(probs, classwise_thresholds(hist, 1.0)) != 255).all())


@pytest.mark.parametrize("portion", [-0.1, 1.5, float("nan")])
def test_bad_portion_raises(portion):
    hist = ConfidenceHistogram(3)
    with pytest.raises(ValueError, match="portion"):
        classwise_thresholds(hist, portion)
    with pytest.raises(ValueError, match="portion"):
        global_threshold_sorted(torch.rand(10), portion)


def test_logits_and_wrong_class_count_rejected():
    hist = ConfidenceHistogram(5)
    with pytest.raises(ValueError, match="logits"):
        hist.update(torch.randn(2, 5, 4, 4) * 10)
    with pytest.raises(ValueError, match="5 classes"):
        hist.update(torch.rand(2, 4, 4, 4))
    with pytest.raises(ValueError, match="logits"):
        hist.update(torch.full((1, 5, 2, 2), float("nan")))


# --- selection against a plainly written reference ---------------------------------------


def _plain_selection(probs, thresholds, prior=None, ignore=255):
    b, c, h, w = probs.shape
    out = torch.empty(b, h, w, dtype=torch.long)
    for i in range(b):
        for y in range(h):
            for x in range(w):
                scores = []
                for k in range(c):
                    p = float(probs[i, k, y, x]) * (1.0 if prior is None else float(prior[k, y, x]))
                    scores.append(p / float(thresholds[k]))
                best = max(range(c), key=lambda k: scores[k])
                out[i, y, x] = best if scores[best] >= 1.0 else ignore
    return out


def test_selection_matches_plain_reference():
    probs = _probs("imbalanced", 6, shape=(2, 7, 9), seed=5)
    conf, pred = probs.max(dim=1)
    thresholds = classwise_thresholds_sorted(conf, pred, 6, 0.4)
    labels = select_pseudo_labels(probs, thresholds)
    assert torch.equal(labels, _plain_selection(probs, thresholds))


def test_selection_divides_by_thresholds_before_argmax():
    # argmax is class 0 everywhere; 0.4 / 0.3 > 1 relabels the first pixel as class 1,
    # the second is below both thresholds, the third keeps class 0 (0.95 / 0.9 > 0.05 / 0.3)
    probs = torch.tensor([[0.6, 0.4], [0.55, 0.2], [0.95, 0.05]]).T.reshape(1, 2, 1, 3)
    labels = select_pseudo_labels(probs, torch.tensor([0.9, 0.3]))
    assert labels.tolist() == [[[1, 255, 0]]]


def test_global_threshold_selection_is_thresholded_argmax():
    probs = _probs("imbalanced", 6, shape=(2, 7, 9), seed=6)
    conf, pred = probs.max(dim=1)
    t = global_threshold_sorted(conf, 0.3)
    labels = select_pseudo_labels(probs, t)
    expected = torch.where(conf >= t, pred, torch.full_like(pred, 255))
    assert torch.equal(labels, expected)
    assert int((labels != 255).sum()) == int(np.floor(conf.numel() * 0.3))


def test_selection_with_spatial_prior_matches_plain_reference():
    probs = _probs("imbalanced", 5, shape=(2, 6, 8), seed=7)
    prior = torch.rand(5, 6, 8, generator=torch.Generator().manual_seed(8))
    prior = prior / prior.sum((1, 2), keepdim=True)
    hist = ConfidenceHistogram(5, value_range=float(prior.max()))
    hist.update(probs, spatial_prior=prior)
    conf, pred = (probs * prior).max(dim=1)
    thresholds = classwise_thresholds_sorted(conf, pred, 5, 0.5)
    gap = thresholds - classwise_thresholds(hist, 0.5)
    assert bool((gap >= -1e-9).all()) and bool((gap < hist.bin_width + 1e-9).all())
    labels = select_pseudo_labels(probs, thresholds, spatial_prior=prior)
    assert torch.equal(labels, _plain_selection(probs, thresholds, prior))


def test_bad_selection_inputs_raise():
    probs = _probs("dirichlet", 4, shape=(1, 3, 3))
    with pytest.raises(ValueError, match="spatial prior shape"):
        select_pseudo_labels(probs, 0.5, spatial_prior=torch.ones(4, 2, 2))
    with pytest.raises(ValueError, match="one per class"):
        select_pseudo_labels(probs, torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match="one per class"):
        select_pseudo_labels(probs, torch.tensor([0.5, 0.0, 0.5, 0.5]))
    with pytest.raises(ValueError, match="ignore_index"):
        select_pseudo_labels(probs, 0.5, ignore_index=2)
    with pytest.raises(ValueError, match="value_range"):
        ConfidenceHistogram(4, value_range=0.01).update(probs)


# --- spatial prior ------------------------------------------------------------------------


def test_spatial_prior_counts_and_normalisation():
    labels = torch.tensor([[[0, 0], [1, 255]], [[0, 1], [1, 1]]])
    sp = SpatialPrior(3, (2, 2))
    sp.update(labels)
    q = sp.prior()
    # class 0 seen at (0,0) twice and (0,1) once: 2/3, 1/3; class 1 at (0,1) once,
    # (1,0) twice, (1,1) once: 1/4 2/4 1/4; class 2 never: flat 1/4
    expected = torch.tensor(
        [[[2 / 3, 1 / 3], [0, 0]], [[0, 1 / 4], [2 / 4, 1 / 4]], [[1 / 4, 1 / 4], [1 / 4, 1 / 4]]]
    )
    torch.testing.assert_close(q, expected)


def test_spatial_prior_plain_reference_and_resizing():
    g = torch.Generator().manual_seed(9)
    labels = torch.randint(0, 4, (3, 8, 12), generator=g)
    labels[0, :2] = 255
    sp = SpatialPrior(4, (8, 12))
    for image in labels.split(1):
        sp.update(image)
    counts = torch.zeros(4, 8, 12)
    for i in range(3):
        for y in range(8):
            for x in range(12):
                if int(labels[i, y, x]) != 255:
                    counts[int(labels[i, y, x]), y, x] += 1
    torch.testing.assert_close(sp.prior(), counts / counts.sum((1, 2), keepdim=True))
    for size in [(4, 6), (16, 24), (5, 7)]:
        q = sp.prior(size)
        assert q.shape == (4, *size) and bool((q >= 0).all())
        torch.testing.assert_close(q.sum((1, 2)), torch.ones(4))
    # labels at twice the size are resized by nearest neighbour to the counted size
    big = SpatialPrior(4, (8, 12))
    big.update(labels.repeat_interleave(2, 1).repeat_interleave(2, 2))
    torch.testing.assert_close(big.prior(), sp.prior())


def test_spatial_prior_rejects_unmapped_labels():
    sp = SpatialPrior(3, (2, 2))
    with pytest.raises(ValueError, match=r"\[7\]"):
        sp.update(torch.tensor([[[0, 7], [1, 255]]]))
    with pytest.raises(ValueError, match="batch, height, width"):
        sp.update(torch.zeros(2, 2, dtype=torch.long))


# --- schedule -----------------------------------------------------------------------------


def test_portion_schedule_official_defaults():
    got = [portion_schedule(r) for r in range(9)]
    np.testing.assert_allclose(got, [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.5, 0.5])
    assert portion_schedule(3, p0=0.15) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="p_max"):
        portion_schedule(0, p0=0.6)
    with pytest.raises(ValueError, match="round_idx"):
        portion_schedule(-1)


# --- two processes over gloo --------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gloo_worker(rank: int, port: int, shard_paths: list, out_paths: list) -> None:
    torch.set_num_threads(1)  # a forked child must not reuse the parent's OpenMP pool
    torch_dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2
    )
    try:
        hist = ConfidenceHistogram(19, bins=1_000)
        hist.update(torch.load(shard_paths[rank]))
        hist.all_reduce()
        prior = SpatialPrior(19, (5, 6))
        prior.update(torch.load(shard_paths[rank]).argmax(1))
        prior.all_reduce()
        torch.save(
            {
                "cb": classwise_thresholds(hist, 0.2),
                "st": global_threshold(hist, 0.2),
                "prior": prior.prior(),
            },
            out_paths[rank],
        )
    finally:
        torch_dist.destroy_process_group()


def test_two_process_all_reduce_equals_one_process(tmp_path):
    probs = _probs("imbalanced", 19, shape=(5, 5, 6), seed=11)
    shards = [probs[:2], probs[2:]]  # unequal shards
    shard_paths = [str(tmp_path / f"shard{r}.pt") for r in range(2)]
    out_paths = [str(tmp_path / f"out{r}.pt") for r in range(2)]
    for shard, path in zip(shards, shard_paths):
        torch.save(shard, path)
    # fork, not spawn: a spawned child would have to import this test module by name,
    # which pytest's importlib mode does not make importable
    mp.start_processes(
        _gloo_worker,
        args=(_free_port(), shard_paths, out_paths),
        nprocs=2,
        join=True,
        start_method="fork",
    )

    hist = ConfidenceHistogram(19, bins=1_000)
    hist.update(probs)
    prior = SpatialPrior(19, (5, 6))
    prior.update(probs.argmax(1))
    for path in out_paths:
        out = torch.load(path)
        assert torch.equal(out["cb"], classwise_thresholds(hist, 0.2))
        assert out["st"] == global_threshold(hist, 0.2)
        assert torch.equal(out["prior"], prior.prior())
