"""Pixel-level cycle association (PLCA; Kang et al., NeurIPS 2020, Sec. 3.2-3.4).

For each image pair, every source pixel i picks its most similar target pixel
j* (Eq. 2), which picks its most similar source pixel i* (Eq. 3). The cycle is
valid when i and i* carry the same label; for valid cycles the loss is
-log P_st[i, j*] - log P_ts[j*, i*], averaged over all valid cycles of the
batch, where P = softmax over the contrast-normalised similarities (Eq. 4-6).
This matches the official ``AssociationLoss.forward`` (solver/loss.py of
kgl-prml/Pixel-Level-Cycle-Association): BCE with target 1 on the product of the
two softmax scores, averaged over the valid cycles of the whole batch.

Similarity is the cosine on features (Eq. 1) or the negative KL divergence on
predicted probabilities (Eq. 9), -KL(query || key), so its direction follows
the association step (source->target uses -KL(p_s || p_t), target->source uses
-KL(p_t || p_s)).

Memory: an association resolution of 92x92 gives 8464x8464 similarities per
pair. Pairs are processed one at a time, the argmax search runs over row chunks
without autograd, and every differentiable chunk is wrapped in activation
checkpointing, so autograd keeps only the (C, L) inputs and the chunk's
(chunk_size, L) matrix is rebuilt during backward. Peak memory is therefore
O(chunk_size * L), independent of the batch size.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

Metric = Literal["cos", "kl"]
METRICS: tuple[str, ...] = ("cos", "kl")

# Added to the standard deviation in the contrast normalisation
# (official solver/loss.py, AssociationLoss.scoring: eps = 1e-10).
STD_EPS = 1e-10
# Added to probabilities before the log in the KL similarity
# (official solver/loss.py, AssociationLoss.compute_sim_mat_kl: eps = 1e-10).
LOG_EPS = 1e-10
# Rows per similarity chunk: 1024 x 8464 fp32 is 35 MB per matrix.
DEFAULT_CHUNK = 1024


class AssociationResult(NamedTuple):
    """The association loss of a batch and the share of labelled source pixels whose cycle is valid."""

    loss: torch.Tensor
    valid_fraction: float


def contrast_normalize(sim: torch.Tensor) -> torch.Tensor:
    """Eq. 5-6: standardise each row of ``sim`` by its mean and standard deviation.

    The statistics are detached, as in the official ``AssociationLoss.scoring``, so
    the incoming gradient is only scaled by 1 / std (the paper's reading of Eq. 5).
    ``torch.std`` is the unbiased estimator there as here.
    """
    mean = sim.mean(dim=-1, keepdim=True).detach()
    std = sim.std(dim=-1, keepdim=True).detach()
    return (sim - mean) / (std + STD_EPS)


def _check_options(metric: str, chunk_size: int) -> None:
    if metric not in METRICS:
        raise ValueError(f"association metric {metric!r} is unknown; use one of {METRICS}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of rows, got {chunk_size}")


def _prepare(x: torch.Tensor, metric: Metric) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel operands of the similarity for one map x of shape (C, L).

    cos: (unit features, unit features); kl: (probabilities, log probabilities).
    Computed once per map so that chunks only slice them.
    """
    if metric == "cos":
        unit = F.normalize(x, dim=0)
        return unit, unit
    return x, torch.log(x + LOG_EPS)


def _similarity(
    q_val: torch.Tensor,
    q_log: torch.Tensor,
    k_val: torch.Tensor,
    k_log: torch.Tensor,
    metric: Metric,
) -> torch.Tensor:
    """(C, Lq) queries against (C, Lk) keys -> (Lq, Lk) similarities, query -> key direction."""
    if metric == "cos":
        return q_val.T @ k_val
    # -KL(q || k) = sum_c q log k - sum_c q log q  (Eq. 9)
    return q_val.T @ k_log - (q_val * q_log).sum(dim=0)[:, None]


def _row_chunks(rows: torch.Tensor, chunk_size: int):
    for start in range(0, rows.numel(), chunk_size):
        yield rows[start : start + chunk_size]


def _chunked_argmax(
    query: tuple[torch.Tensor, torch.Tensor],
    keys: tuple[torch.Tensor, torch.Tensor],
    rows: torch.Tensor,
    metric: Metric,
    chunk_size: int,
) -> torch.Tensor:
    """Index of the most similar key for each query column in ``rows``.

    The argmax of the raw similarity equals the argmax of the softmax of its
    contrast-normalised row (a per-row increasing map), so no softmax is needed.
    """
    q_val, q_log = query
    best = [
        _similarity(q_val[:, r], q_log[:, r], *keys, metric).argmax(dim=1)
        for r in _row_chunks(rows, chunk_size)
    ]
    return torch.cat(best)


def _associate(
    src: tuple[torch.Tensor, torch.Tensor],
    tgt: tuple[torch.Tensor, torch.Tensor],
    metric: Metric,
    chunk_size: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 2-3 on prepared maps: (mid, picked, back, inverse).

    mid[i] is the target pixel chosen by source pixel i; picked are the distinct
    chosen targets with mid == picked[inverse]; back[k] is the source pixel that
    picked[k] chooses in turn. Only picked targets need their way back.
    """
    with torch.no_grad():
        all_src = torch.arange(src[0].shape[1], device=src[0].device)
        mid = _chunked_argmax(src, tgt, all_src, metric, chunk_size)
        picked, inverse = mid.unique(return_inverse=True)
        back = _chunked_argmax(tgt, src, picked, metric, chunk_size)
    return mid, picked, back, inverse


def cycle_associate(
    source: torch.Tensor,
    target: torch.Tensor,
    metric: Metric = "cos",
    chunk_size: int = DEFAULT_CHUNK,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 2-3 for one pair: source (C, Ls), target (C, Lt) -> (j*, i*), each of shape (Ls,).

    j*[i] is the target pixel chosen by source pixel i; i*[i] the source pixel
    that j*[i] chooses in turn (the end of the cycle).
    """
    _check_options(metric, chunk_size)
    with torch.no_grad():
        mid, _, back, inverse = _associate(
            _prepare(source, metric), _prepare(target, metric), metric, chunk_size
        )
    return mid, back[inverse]


def _neg_log_prob_rows(
    q_val: torch.Tensor,
    q_log: torch.Tensor,
    k_val: torch.Tensor,
    k_log: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    metric: Metric,
) -> torch.Tensor:
    """-log softmax(contrast_normalize(sim[rows, :]))[k, cols[k]] for one chunk of rows."""
    sim = _similarity(q_val[:, rows], q_log[:, rows], k_val, k_log, metric)
    log_p = F.log_softmax(contrast_normalize(sim), dim=1)
    return -log_p.gather(1, cols[:, None]).squeeze(1)


def _neg_log_prob(
    query: tuple[torch.Tensor, torch.Tensor],
    keys: tuple[torch.Tensor, torch.Tensor],
    rows: torch.Tensor,
    cols: torch.Tensor,
    metric: Metric,
    chunk_size: int,
) -> torch.Tensor:
    parts = [
        checkpoint(_neg_log_prob_rows, *query, *keys, r, c, metric, use_reentrant=False)
        for r, c in zip(_row_chunks(rows, chunk_size), _row_chunks(cols, chunk_size))
    ]
    return torch.cat(parts)


def _aggregate_rows(
    x_val: torch.Tensor, x_log: torch.Tensor, x: torch.Tensor, rows: torch.Tensor, metric: Metric
) -> torch.Tensor:
    sim = _similarity(x_val[:, rows], x_log[:, rows], x_val, x_log, metric)
    # Official AssociationLoss.spatial_agg: contrast normalisation for the cosine
    # (Sec. 3.3), a plain softmax of -KL for predictions.
    weights = F.softmax(contrast_normalize(sim) if metric == "cos" else sim, dim=1)
    return x @ weights.T


def spatial_aggregate(
    x: torch.Tensor, alpha: float = 0.5, metric: Metric = "cos", chunk_size: int = DEFAULT_CHUNK
) -> torch.Tensor:
    """Eq. 7-8: x (N, C, H, W) -> (1 - alpha) * x + alpha * (similarity-weighted sum over the image).

    Used on target features/predictions before association and, identically, at
    inference (official tools/test.py: features with ``cos``, then softmax
    predictions with ``kl``, alpha = 0.5 both times).
    """
    _check_options(metric, chunk_size)
    if x.dim() != 4:
        raise ValueError(f"spatial_aggregate expects (N, C, H, W), got shape {tuple(x.shape)}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"aggregation alpha must lie in (0, 1), got {alpha}; the paper uses 0.5")
    out = []
    for xi in x.flatten(2):
        prepared = _prepare(xi, metric)
        all_rows = torch.arange(xi.shape[1], device=xi.device)
        agg = torch.cat(
            [
                checkpoint(_aggregate_rows, *prepared, xi, r, metric, use_reentrant=False)
                for r in _row_chunks(all_rows, chunk_size)
            ],
            dim=1,
        )
        out.append((1.0 - alpha) * xi + alpha * agg)
    return torch.stack(out).view_as(x)


def _check_inputs(source: torch.Tensor, target: torch.Tensor, labels: torch.Tensor) -> None:
    if source.dim() != 4 or target.dim() != 4:
        raise ValueError(
            f"association expects (N, C, H, W) maps, got source {tuple(source.shape)} "
            f"and target {tuple(target.shape)}"
        )
    if source.shape[:2] != target.shape[:2]:
        raise ValueError(
            f"source {tuple(source.shape)} and target {tuple(target.shape)} must share batch size "
            "and channels; pair each source image with one target image"
        )
    if labels.shape != (source.shape[0], *source.shape[2:]):
        raise ValueError(
            f"source labels have shape {tuple(labels.shape)}, expected "
            f"{(source.shape[0], *source.shape[2:])}; resize them to the association "
            "resolution with nearest interpolation"
        )


def cycle_association_loss(
    source: torch.Tensor,
    target: torch.Tensor,
    source_labels: torch.Tensor,
    metric: Metric = "cos",
    aggregate_alpha: float | None = 0.5,
    ignore_index: int = 255,
    chunk_size: int = DEFAULT_CHUNK,
) -> AssociationResult:
    """Contrastive cycle-association loss (Eq. 4-6 for ``cos``, Eq. 9-10 for ``kl``).

    source, target: (N, C, H, W) features (``cos``) or softmax probabilities
    (``kl``) at the association resolution; image n of the source is paired
    with image n of the target. source_labels: (N, H, W), ``ignore_index`` marks
    pixels that never start a cycle. ``aggregate_alpha`` applies the spatial
    aggregation (Eq. 7-8) to the target first; ``None`` disables it.
    """
    _check_options(metric, chunk_size)
    _check_inputs(source, target, source_labels)
    if aggregate_alpha is not None:
        target = spatial_aggregate(target, aggregate_alpha, metric, chunk_size)

    total = source.new_zeros(())
    num_valid = num_labelled = 0
    for src, tgt, lab in zip(source.flatten(2), target.flatten(2), source_labels.flatten(1)):
        s_prep, t_prep = _prepare(src, metric), _prepare(tgt, metric)
        mid, picked, back, inverse = _associate(s_prep, t_prep, metric, chunk_size)
        labelled = lab != ignore_index
        valid = labelled & (lab == lab[back[inverse]])
        num_labelled += int(labelled.sum())
        starts = valid.nonzero().squeeze(1)
        if starts.numel() == 0:
            continue
        num_valid += starts.numel()
        way_out = _neg_log_prob(s_prep, t_prep, starts, mid[starts], metric, chunk_size)
        # The way back depends only on the target pixel: score each one once,
        # weighted by the number of valid cycles passing through it.
        used, counts = inverse[starts].unique(return_counts=True)
        way_back = _neg_log_prob(t_prep, s_prep, picked[used], back[used], metric, chunk_size)
        total = total + way_out.sum() + (way_back * counts).sum()

    if num_valid == 0:
        # No valid cycle: a zero that keeps the graph connected (official returns 0.0).
        return AssociationResult(source.sum() * 0.0 + target.sum() * 0.0, 0.0)
    return AssociationResult(total / num_valid, num_valid / max(num_labelled, 1))
