"""PLCA association against a dense reference written from the paper's equations.

The reference materialises every similarity matrix and loops over pixels; the
implementation under test is chunked, checkpointed and deduplicated.
"""

import math

import pytest
import torch

from harness.losses import association
from harness.losses.association import (
    contrast_normalize,
    cycle_associate,
    cycle_association_loss,
    spatial_aggregate,
)

IGNORE = 255


# ---------------------------------------------------------------- dense reference
def ref_similarity(a, b, metric):
    """Eq. 1 (cosine) or Eq. 9 (-KL(a_i || b_j)) between columns of a (C, La) and b (C, Lb)."""
    if metric == "cos":
        return (a / a.norm(dim=0)).T @ (b / b.norm(dim=0))
    log_a, log_b = torch.log(a + 1e-10), torch.log(b + 1e-10)
    return -(a[:, :, None] * (log_a[:, :, None] - log_b[:, None, :])).sum(0)


def ref_scores(sim):
    """Eq. 5-6 then softmax over each row; statistics are constants for the gradient."""
    mean, std = sim.mean(1, keepdim=True).detach(), sim.std(1, keepdim=True).detach()
    return torch.softmax((sim - mean) / (std + 1e-10), dim=1)


def ref_aggregate(x, alpha, metric):
    """Eq. 7-8 for every image of x (N, C, H, W)."""
    out = []
    for xi in x.flatten(2):
        sim = ref_similarity(xi, xi, metric)
        weights = ref_scores(sim) if metric == "cos" else torch.softmax(sim, dim=1)
        agg = torch.stack([(weights[i][None, :] * xi).sum(1) for i in range(xi.shape[1])], dim=1)
        out.append((1 - alpha) * xi + alpha * agg)
    return torch.stack(out).view_as(x)


def ref_loss(source, target, labels, metric, alpha):
    """Eq. 4: mean over valid cycles of -log(P_st[i, j*] * P_ts[j*, i*])."""
    if alpha is not None:
        target = ref_aggregate(target, alpha, metric)
    terms = []
    for s, t, y in zip(source.flatten(2), target.flatten(2), labels.flatten(1)):
        p_st, p_ts = (
            ref_scores(ref_similarity(s, t, metric)),
            ref_scores(ref_similarity(t, s, metric)),
        )
        for i in range(s.shape[1]):
            j = int(p_st[i].argmax())
            k = int(p_ts[j].argmax())
            if y[i] != IGNORE and y[i] == y[k]:
                terms.append(-torch.log(p_st[i, j] * p_ts[j, k]))
    return torch.stack(terms).mean()


# ---------------------------------------------------------------- inputs
def make_inputs(metric, seed=0, n=2, c=5, h=4, w=4, requires_grad=True):
    g = torch.Generator().manual_seed(seed)
    source = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    target = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    if metric == "kl":
        source, target = source.mul(2).softmax(1), target.mul(2).softmax(1)
    labels = torch.randint(0, 3, (n, h, w), generator=g)
    labels[:, 0, :2] = IGNORE
    return source.requires_grad_(requires_grad), target.requires_grad_(requires_grad), labels


# ---------------------------------------------------------------- agreement with the reference
@pytest.mark.parametrize("metric", ["cos", "kl"])
@pytest.mark.parametrize("alpha", [None, 0.5])
def test_loss_and_gradients_match_dense_reference(metric, alpha):
    source, target, labels = make_inputs(metric)
    # chunk_size 5 splits the 16 pixels of each map into uneven chunks.
    ours = cycle_association_loss(source, target, labels, metric, alpha, chunk_size=5)
    ref = ref_loss(source, target, labels, metric, alpha)
    assert 0 < ours.valid_fraction <= 1
    torch.testing.assert_close(ours.loss, ref, rtol=0, atol=1e-5)
    got = torch.autograd.grad(ours.loss, (source, target))
    want = torch.autograd.grad(ref, (source, target))
    for g_ours, g_ref in zip(got, want):
        torch.testing.assert_close(g_ours, g_ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("metric", ["cos", "kl"])
def test_aggregation_matches_dense_reference_in_training_and_inference(metric):
    _, target, _ = make_inputs(metric, seed=1)
    ref = ref_aggregate(target, 0.5, metric)
    torch.testing.assert_close(
        spatial_aggregate(target, 0.5, metric, chunk_size=3), ref, rtol=0, atol=1e-5
    )
    with torch.no_grad():
        torch.testing.assert_close(
            spatial_aggregate(target, 0.5, metric, chunk_size=7), ref.detach(), rtol=0, atol=1e-5
        )


def test_hand_computed_pair():
    # s0 = (1, 0) and s1 = (0.8, 0.6) both pick t0 = (1, 0) over t1 = (0, 1); t0 picks s0 back.
    # s0 (class 0) closes its cycle; s1 (class 1) ends at s0 and is dropped.
    # Any 2-entry row standardises to +-1/sqrt(2), so both softmax scores are
    # sigmoid(sqrt(2)) and the loss is -2 log sigmoid(sqrt(2)).
    source = torch.tensor([[1.0, 0.8], [0.0, 0.6]], dtype=torch.float64).view(1, 2, 1, 2)
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64).view(1, 2, 1, 2)
    labels = torch.tensor([[[0, 1]]])
    result = cycle_association_loss(source, target, labels, "cos", aggregate_alpha=None)
    assert result.valid_fraction == 0.5
    expected = 2 * math.log1p(math.exp(-math.sqrt(2)))
    assert abs(result.loss.item() - expected) < 1e-8  # STD_EPS = 1e-10 shifts it by ~2e-10


def test_contrast_normalize_standardises_rows_and_scales_gradient_by_std():
    sim = torch.tensor([[1.0, 2.0, 4.0], [0.0, 0.0, 3.0]], dtype=torch.float64, requires_grad=True)
    z = contrast_normalize(sim)
    torch.testing.assert_close(z.mean(1), torch.zeros(2, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(z.std(1), torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-9)
    (z * torch.tensor([[1.0, 0, 0], [0, 0, 1.0]], dtype=torch.float64)).sum().backward()
    std = sim.detach().std(1)
    torch.testing.assert_close(sim.grad[:, [0, 2]].diagonal(), 1 / std, rtol=0, atol=1e-9)
    assert sim.grad[0, 1:].abs().sum() == 0 and sim.grad[1, :2].abs().sum() == 0


# ---------------------------------------------------------------- gradients
@pytest.mark.parametrize("metric", ["cos", "kl"])
def test_gradcheck(metric, monkeypatch):
    # The detached statistics of Eq. 5-6 make the analytic gradient differ from
    # finite differences by design (checked against the reference above); here
    # they are made differentiable so gradcheck covers chunking, checkpointing,
    # gathers and the deduplicated way back.
    def differentiable_normalize(sim):
        return (sim - sim.mean(-1, keepdim=True)) / (
            sim.std(-1, keepdim=True) + association.STD_EPS
        )

    monkeypatch.setattr(association, "contrast_normalize", differentiable_normalize)
    g = torch.Generator().manual_seed(3)
    source = torch.randn(1, 3, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randn(1, 3, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 2, (1, 3, 3), generator=g)

    def loss(s, t):
        if metric == "kl":
            s, t = s.softmax(1), t.softmax(1)
        return cycle_association_loss(s, t, labels, metric, aggregate_alpha=0.5, chunk_size=4).loss

    assert torch.autograd.gradcheck(loss, (source, target), eps=1e-6, atol=1e-5)


def test_no_valid_cycle_gives_differentiable_zero():
    source, target, labels = make_inputs("cos")
    result = cycle_association_loss(source, target, torch.full_like(labels, IGNORE), "cos")
    assert result.loss.item() == 0.0 and result.valid_fraction == 0.0
    result.loss.backward()
    assert source.grad.abs().sum() == 0


# ---------------------------------------------------------------- invariances
@pytest.mark.parametrize("metric", ["cos", "kl"])
def test_permuting_target_pixels_leaves_loss_unchanged(metric):
    source, target, labels = make_inputs(metric, seed=4, requires_grad=False)
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(5))
    shuffled = target.flatten(2)[:, :, perm].view_as(target)
    base = cycle_association_loss(source, target, labels, metric, aggregate_alpha=None)
    moved = cycle_association_loss(source, shuffled, labels, metric, aggregate_alpha=None)
    assert base.valid_fraction == moved.valid_fraction
    torch.testing.assert_close(moved.loss, base.loss, rtol=0, atol=1e-12)


@pytest.mark.parametrize("metric", ["cos", "kl"])
def test_identical_source_and_target_close_every_cycle(metric):
    source, _, labels = make_inputs(metric, seed=6, requires_grad=False)
    mid, end = cycle_associate(source[0].flatten(1), source[0].flatten(1), metric)
    identity = torch.arange(16)
    assert torch.equal(mid, identity) and torch.equal(end, identity)
    result = cycle_association_loss(source, source.clone(), labels, metric, aggregate_alpha=None)
    assert result.valid_fraction == 1.0


def test_kl_similarity_direction_follows_each_step():
    # KL is asymmetric: with p = (.8, .1, .1), q1 = (.6, .38, .02), q2 = (.98, .01, .01),
    # KL(p || q1) < KL(p || q2) but KL(q2 || p) < KL(q1 || p).
    p = torch.tensor([[0.8], [0.1], [0.1]], dtype=torch.float64)
    q = torch.tensor([[0.6, 0.98], [0.38, 0.01], [0.02, 0.01]], dtype=torch.float64)
    # Source -> target ranks targets by -KL(p_s || p_t): p picks q1.
    mid, _ = cycle_associate(p, q, "kl")
    assert mid.tolist() == [0]
    # Target -> source ranks sources by -KL(p_t || p_s): target p picks source q1 back.
    _, end = cycle_associate(q, p, "kl")
    assert end.tolist() == [0, 0]


# ---------------------------------------------------------------- bad input
def test_bad_inputs_raise_clear_errors():
    source, target, labels = make_inputs("cos", requires_grad=False)
    with pytest.raises(ValueError, match="metric 'l2'"):
        cycle_association_loss(source, target, labels, "l2")
    with pytest.raises(ValueError, match="share batch size"):
        cycle_association_loss(source, target[:1], labels)
    with pytest.raises(ValueError, match="nearest interpolation"):
        cycle_association_loss(source, target, labels[:, :2])
    with pytest.raises(ValueError, match="alpha must lie in"):
        spatial_aggregate(target, alpha=1.0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        spatial_aggregate(target[0])
    with pytest.raises(ValueError, match="chunk_size"):
        cycle_association_loss(source, target, labels, chunk_size=0)
