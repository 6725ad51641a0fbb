"""Confidence thresholds and pseudo-label selection for ST, CBST and CBST-SP.

The official code (yzou2/CBST ``issegm/solve_ST.py``, ``_val_impl``; yzou2/CRST
``crst_seg.py``, ``kc_parameters`` and ``label_selection``) gathers every pixel's
confidence per predicted class, sorts, and reads the value at portion p. At
Cityscapes scale that is billions of values, so here the same thresholds come
from streaming per-class histograms: memory O(classes x bins) whatever the pixel
count, exact to one bin width, summed across processes with ``all_reduce``.

Rules, as in the official code (the ``*_sorted`` functions are its direct form):

* a pixel's confidence is its largest class probability (times the spatial prior
  for CBST-SP), filed under its argmax class;
* at portion p the threshold of n confidences is the k-th largest, k = floor(n p);
* when k = 0 (a class with no pixels, or too few for p) the threshold is 1.0, so
  that class selects nothing short of full confidence (CBST ``solve_ST.py``:
  ``cls_thresh[cls_thresh == 0] = 1.0``; CRST ``kc_parameters``: ``np.ones``);
* a pixel is labelled argmax_c p_c / t_c and kept iff that ratio is >= 1, else it
  is ignored (CBST ``solve_ST.py`` pseudo-label assignment; CRST
  ``label_selection``: ``weighted_prob = pred_prob / cls_thresh``). ST uses the
  same rule with one threshold for every class, as the official ``kc_policy ==
  'global'`` does (``cls_thresh[:] = ...``).

The official code keeps every 4th confidence of each image (``ds_rate = 4``) to
bound the sort's memory; the histograms need no such subsampling and use all.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor

#: Threshold when nothing is to be selected (see the module docstring).
EMPTY_THRESHOLD = 1.0


def _check_portion(portion: float) -> None:
    if not 0.0 <= portion <= 1.0:
        raise ValueError(
            f"portion {portion!r} is outside [0, 1]; pass the fraction of pixels to select, "
            "e.g. 0.2 for 20%"
        )


def apply_spatial_prior(probs: Tensor, spatial_prior: Tensor | None) -> Tensor:
    """``probs[B, C, H, W] * spatial_prior[C, H, W]`` (CBST ``solve_ST.py``:
    ``probmap = np.multiply(prior_array, interp_preds_np)``); ``probs`` if no prior."""
    if spatial_prior is None:
        return probs
    if spatial_prior.shape != probs.shape[1:]:
        raise ValueError(
            f"spatial prior shape {tuple(spatial_prior.shape)} does not match the class "
            f"probabilities {tuple(probs.shape[1:])}; build it at the prediction size with "
            f"SpatialPrior.prior(size={tuple(probs.shape[2:])})"
        )
    return probs * spatial_prior.to(probs.device, probs.dtype)


class ConfidenceHistogram:
    """Per-class histograms of the max-softmax confidence of the pixels predicted as each class.

    ``counts[c, b]`` is the number of pixels whose argmax is class c and whose
    confidence falls in bin b of ``[0, value_range]`` (the top bin is closed).
    Confidences multiplied by a spatial prior are at most the prior's maximum:
    pass that as ``value_range`` so the bins span the values.
    """

    # Softmax confidences of a trained segmenter pile up just below 1; 10^4 bins keep
    # what shares the threshold's bin small, for 19 x 10^4 int64 = 1.5 MB.
    def __init__(self, num_classes: int, bins: int = 10_000, value_range: float = 1.0, device=None):
        if num_classes < 1 or bins < 1 or not value_range > 0:
            raise ValueError(
                f"ConfidenceHistogram(num_classes={num_classes}, bins={bins}, "
                f"value_range={value_range}): all three must be positive"
            )
        self.num_classes = num_classes
        self.bins = bins
        self.value_range = float(value_range)
        self.counts = torch.zeros(num_classes, bins, dtype=torch.int64, device=device)

    @property
    def bin_width(self) -> float:
        return self.value_range / self.bins

    def update(self, probs: Tensor, spatial_prior: Tensor | None = None) -> None:
        """Add a batch of class probabilities ``[B, C, ...]`` (one pass, one ``bincount``)."""
        if probs.ndim < 2 or probs.shape[1] != self.num_classes:
            raise ValueError(
                f"probabilities of shape {tuple(probs.shape)} do not have {self.num_classes} "
                "classes on dim 1; pass softmax outputs shaped [batch, classes, ...]"
            )
        probs = apply_spatial_prior(probs.detach().to(self.counts.device), spatial_prior)
        conf, pred = probs.max(dim=1)
        if conf.numel() == 0:
            return
        low, high = torch.aminmax(conf)
        if not (bool(low >= 0) and bool(high <= self.value_range)):  # NaN fails both
            raise ValueError(
                f"confidences span [{float(low)}, {float(high)}], outside the histogram range "
                f"[0, {self.value_range}]; pass softmax probabilities (not logits), or set "
                "value_range to the spatial prior's maximum"
            )
        # float64 so that a float32 confidence lands in the bin its value belongs to.
        bin_idx = conf.to(torch.float64).mul_(self.bins / self.value_range).to(torch.int64)
        flat = bin_idx.clamp_(max=self.bins - 1).add_(pred.mul_(self.bins)).reshape(-1)
        self.counts += torch.bincount(flat, minlength=self.counts.numel()).view_as(self.counts)

    def all_reduce(self) -> "ConfidenceHistogram":
        """Sum the counts over all processes (a no-op without torch.distributed)."""
        from mmengine import dist

        dist.all_reduce(self.counts, op="sum")
        return self


def _thresholds_from_counts(counts: Tensor, portion: float, bin_width: float) -> Tensor:
    """Lower edge of the bin holding the k-th largest value, k = floor(n p), per leading index.

    That edge is at most the sort-based threshold and less than one bin below it;
    it selects every pixel the sort-based one does, plus those sharing its bin.
    """
    _check_portion(portion)
    at_or_above = counts.flip(-1).cumsum(-1)  # [..., j]: values in the top j+1 bins
    # float64 floor as ``math.floor(len_cls * tgt_portion)`` in the official code
    k = torch.floor(at_or_above[..., -1].to(torch.float64) * portion).to(torch.int64)
    from_top = torch.searchsorted(at_or_above, k.unsqueeze(-1)).squeeze(-1)
    lower_edge = (counts.shape[-1] - 1 - from_top).to(torch.float64) * bin_width
    return torch.where(k > 0, lower_edge, EMPTY_THRESHOLD)


def global_threshold(hist: ConfidenceHistogram, portion: float) -> float:
    """ST: one threshold selecting a portion p of all pixels (CBST ``kc_policy == 'global'``)."""
    return float(_thresholds_from_counts(hist.counts.sum(0), portion, hist.bin_width))


def classwise_thresholds(hist: ConfidenceHistogram, portion: float) -> Tensor:
    """CBST: each class's threshold at portion p of its own pixels, float64 ``[C]``."""
    return _thresholds_from_counts(hist.counts, portion, hist.bin_width)


def global_threshold_sorted(conf: Tensor, portion: float) -> float:
    """Sort-based :func:`global_threshold` on all confidences held at once (official form)."""
    _check_portion(portion)
    conf = conf.reshape(-1)
    k = math.floor(conf.numel() * portion)
    if k == 0:
        return EMPTY_THRESHOLD
    return float(torch.sort(conf, descending=True).values[k - 1])


def classwise_thresholds_sorted(
    conf: Tensor, pred: Tensor, num_classes: int, portion: float
) -> Tensor:
    """Sort-based :func:`classwise_thresholds` (CRST ``kc_parameters``), float64 ``[C]``."""
    _check_portion(portion)
    conf, pred = conf.reshape(-1), pred.reshape(-1)
    thresholds = torch.full((num_classes,), EMPTY_THRESHOLD, dtype=torch.float64)
    for c in range(num_classes):
        values = conf[pred == c]
        k = math.floor(values.numel() * portion)
        if k:
            thresholds[c] = float(torch.sort(values, descending=True).values[k - 1])
    return thresholds


def select_pseudo_labels(
    probs: Tensor,
    thresholds: Tensor | float,
    spatial_prior: Tensor | None = None,
    ignore_index: int = 255,
) -> Tensor:
    """Pseudo-labels ``[B, ...]``: argmax of ``probs / thresholds``, ignore where that is < 1.

    ``thresholds`` is one float (ST) or a ``[C]`` tensor (CBST); ``spatial_prior``
    (CBST-SP) multiplies ``probs`` first, as it did when the thresholds were made.
    """
    probs = apply_spatial_prior(probs, spatial_prior)
    num_classes = probs.shape[1]
    if 0 <= ignore_index < num_classes:
        raise ValueError(
            f"ignore_index {ignore_index} is a class id (0..{num_classes - 1}); use an id "
            "outside the class range, e.g. 255"
        )
    t = torch.as_tensor(thresholds, dtype=probs.dtype, device=probs.device)
    t = t.expand(num_classes) if t.ndim == 0 else t
    if t.shape != (num_classes,) or not bool((t > 0).all()):
        raise ValueError(
            f"thresholds {t.tolist()} must be one positive value or {num_classes} positive "
            "values, one per class (from global_threshold / classwise_thresholds)"
        )
    ratio = probs / t.view(1, num_classes, *([1] * (probs.ndim - 2)))
    best, labels = ratio.max(dim=1)
    labels[best < 1] = ignore_index
    return labels


def portion_schedule(
    round_idx: int, p0: float = 0.2, delta: float = 0.05, p_max: float = 0.5
) -> float:
    """Portion p of target pixels selected in round ``round_idx`` (0-based): min(p0 + r dp, p_max).

    Defaults: CRST ``crst_seg.py`` (``INIT_TGT_PORT = 0.2``, ``TGT_PORT_STEP = 0.05``,
    ``MAX_TGT_PORT = 0.5``, ``tgt_portion = min(tgt_portion + step, max)``) and the
    seed slides' 20% / +5% / 50%. (CBST's ``script-self-paced-self-trained-segresnet.py``
    defaults to p0 = 0.3; its published commands use 0.15 for GTA5, 0.2 for SYNTHIA.)
    """
    if round_idx < 0 or delta < 0 or not 0.0 <= p0 <= p_max <= 1.0:
        raise ValueError(
            f"portion_schedule(round_idx={round_idx}, p0={p0}, delta={delta}, p_max={p_max}) "
            "needs round_idx >= 0, delta >= 0 and 0 <= p0 <= p_max <= 1"
        )
    return min(p0 + round_idx * delta, p_max)


class SpatialPrior:
    """Per-class frequency maps q_n(c) counted on source label maps (CBST-SP).

    Each class map is normalised to sum to 1 over the pixels, sum_n q_n(c) = 1
    (CBST paper, ECCV 2018, spatial priors). The official code loads a precomputed
    ``spatial_prior/<source>/prior_array.mat`` at the target prediction size and
    ships no generator for it; here labels are counted at ``size`` (resized by
    nearest neighbour when they differ). A class absent from every source label
    gets a flat map 1 / (H W): no spatial evidence, no spatial preference.
    """

    def __init__(
        self, num_classes: int, size: tuple[int, int], ignore_index: int = 255, device=None
    ):
        self.num_classes = num_classes
        self.size = (int(size[0]), int(size[1]))
        self.ignore_index = ignore_index
        # int32: a pixel's count is at most the number of source images
        self.counts = torch.zeros(num_classes, *self.size, dtype=torch.int32, device=device)

    def update(self, labels: Tensor) -> None:
        """Count a batch of source train-id label maps ``[B, H, W]`` (ignore id skipped)."""
        if labels.ndim != 3:
            raise ValueError(
                f"source labels of shape {tuple(labels.shape)}: expected [batch, height, width]"
            )
        labels = labels.to(self.counts.device)
        if tuple(labels.shape[-2:]) != self.size:
            labels = F.interpolate(labels[:, None].float(), size=self.size, mode="nearest-exact")
            labels = labels[:, 0]
        labels = labels.long()
        valid = labels != self.ignore_index
        bad = valid & ((labels < 0) | (labels >= self.num_classes))
        if bool(bad.any()):
            raise ValueError(
                f"source label ids {torch.unique(labels[bad])[:10].tolist()} are outside "
                f"0..{self.num_classes - 1} and not the ignore id {self.ignore_index}; remap "
                "the source labels to train ids first"
            )
        pixels = self.size[0] * self.size[1]
        position = torch.arange(pixels, device=labels.device).view(1, *self.size)
        flat = (labels * pixels + position)[valid]
        self.counts.view(-1).index_add_(0, flat, torch.ones_like(flat, dtype=self.counts.dtype))

    def all_reduce(self) -> "SpatialPrior":
        """Sum the counts over all processes (a no-op without torch.distributed)."""
        from mmengine import dist

        dist.all_reduce(self.counts, op="sum")
        return self

    def prior(self, size: tuple[int, int] | None = None) -> Tensor:
        """q ``[C, H, W]`` float32, each class map summing to 1, at ``size`` (default: counted size).

        Resizing is antialiased bilinear (every counted pixel contributes), then
        each map is renormalised so it still sums to 1.
        """
        counts = self.counts.to(torch.float64)
        totals = counts.sum((1, 2), keepdim=True)
        flat = 1.0 / (self.size[0] * self.size[1])
        q = torch.where(totals > 0, counts / totals.clamp(min=1), flat)
        if size is not None and tuple(size) != self.size:
            q = F.interpolate(q[None], size=tuple(size), mode="bilinear", antialias=True)[0]
            q = q / q.sum((1, 2), keepdim=True)
        return q.float()
