"""Is method A better than method B? A paired bootstrap over the test images.

Every metric, on the full data and in every resample, is computed from the **summed**
confusion counts of the (resampled) images, as the reported metrics are; never as a mean
of per-image IoUs, which would weigh a small image like a large one and drop the classes an
image lacks. Both methods are scored on the same resampled images (the images pair them).

Several seeds per method:

* **paired seeds** (both methods ran the same seeds): in each resample a method scores the
  mean, over its seeds, of the metric on that one image resample. Seeds are not resampled:
  the interval is for these seeds' runs, and the image noise shared by both methods cancels.
* **two-level** (the seed sets differ): each resample first draws every method's seeds with
  replacement, then the images (shared by both methods); a method scores the mean over its
  drawn seeds, so seed-to-seed variation widens the interval.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict
from rich.table import Table

from harness.bootstrap import percentile_interval, resample_counts, resampled_sums, two_sided_p
from harness.errors import HarnessError
from harness.names import check_name
from harness.per_sample import PerImage
from harness.results import RunRecord


class CompareError(HarnessError, ValueError):
    """Runs that cannot be compared (different test images, repeated seeds, no runs)."""


@dataclass(frozen=True)
class Metric:
    """A headline metric in percent: accuracy (``classes`` None) or the mIoU over the class
    positions ``classes`` (classes with no pixel in ground truth or prediction left out)."""

    name: str
    classes: tuple[int, ...] | None = None

    def value(self, tp: np.ndarray, gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """The metric from summed counts whose last axis is this metric's classes (mIoU),
        or covers all classes, per class or as one total (accuracy)."""
        if self.classes is None:
            with np.errstate(invalid="ignore", divide="ignore"):
                return 100.0 * tp.sum(-1) / gt.sum(-1)
        iou = _iou(tp, gt, pred)
        present = np.isfinite(iou)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(present, iou, 0.0).sum(-1) / present.sum(-1)


def _iou(tp: np.ndarray, gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Percent; NaN where the union is empty (0/0: the class is missing, not 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * tp / (gt + pred - tp)


def headline_metrics(record: RunRecord) -> list[Metric]:
    """The protocol's headline metrics of a record, named as the leaderboard names them:
    accuracy, or the mIoU over each reported class subset ("all" = every class)."""
    if record.protocol.task != "segmentation":
        return [Metric("acc")]
    target = record.metrics["target"]
    metrics = []
    for subset in record.classes.subsets:
        if subset == "all":
            metrics.append(Metric("mIoU", tuple(range(len(target.classes)))))
        else:
            names = target.subsets[subset]["classes"]
            metrics.append(Metric(f"mIoU {subset}",
                                  tuple(target.classes.index(c) for c in names)))
    return metrics


@dataclass(frozen=True)
class Run:
    """One run of a method: its seed and its per-image counts on the test images."""

    seed: int
    samples: PerImage


class ClassDelta(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    a: float | None
    b: float | None
    delta: float | None
    interval: tuple[float, float] | None


class Comparison(BaseModel):
    """Δ = metric(A) - metric(B) with its percentile interval and two-sided p-value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    a: str
    b: str
    metric: str
    scheme: Literal["paired seeds", "two-level"]
    seeds_a: list[int]
    seeds_b: list[int]
    n_images: int
    n_resamples: int
    seed: int
    confidence: float
    value_a: float | None
    value_b: float | None
    interval_a: tuple[float, float] | None
    interval_b: tuple[float, float] | None
    delta: float | None
    interval: tuple[float, float] | None
    p_value: float
    per_class: list[ClassDelta] | None = None

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha

    def to_json(self) -> str:
        return self.model_dump_json(indent=1)


def _number(x) -> float | None:
    return float(x) if np.isfinite(x) else None


def _seed_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean over axis 1 (seeds) of (resamples, seeds, ...) ``values``, skipping NaN
    (a class missing from one seed's predictions and ground truth)."""
    present = np.isfinite(values)
    w = weights.reshape(weights.shape + (1,) * (values.ndim - 2)) * present
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(present, values, 0.0) * w).sum(1) / w.sum(1)


def _check(a: Sequence[Run], b: Sequence[Run], names: tuple[str, str], metric: Metric) -> None:
    for name, runs in zip(names, (a, b)):
        if not runs:
            raise CompareError(f"method {name!r} has no runs to compare")
        seeds = [r.seed for r in runs]
        if len(set(seeds)) != len(seeds):
            raise CompareError(f"method {name!r} has several runs of one seed ({sorted(seeds)}); "
                               "keep one run per seed")
    first, reference = a[0], a[0].samples.ground_truth()
    for name, runs in zip(names, (a, b)):
        for run in runs:
            s = run.samples
            if (s.n_images, s.num_classes) != (first.samples.n_images, first.samples.num_classes) \
                    or not np.array_equal(s.ground_truth(), reference):
                raise CompareError(
                    f"{name!r} seed {run.seed} was not evaluated on the same test images, in the "
                    f"same order, as {names[0]!r} seed {first.seed} ({s.n_images} vs "
                    f"{first.samples.n_images} images, or different labels); compare runs of "
                    "one protocol's test split")
    bad = [c for c in metric.classes or () if not 0 <= c < first.samples.num_classes]
    if bad:
        raise CompareError(f"metric {metric.name!r} names class positions {bad}, outside "
                           f"0..{first.samples.num_classes - 1}")


def compare(
    a: Sequence[Run],
    b: Sequence[Run],
    metric: Metric,
    *,
    names: tuple[str, str] = ("A", "B"),
    n_resamples: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
    per_class: bool = False,
    class_names: Sequence[str] | None = None,
) -> Comparison:
    """Paired bootstrap of metric(A) - metric(B) over the test images (see the module doc).

    ``per_class`` adds each class's Δ IoU with its interval. Deterministic for a ``seed``.
    """
    _check(a, b, names, metric)
    runs = [*a, *b]
    num_classes = runs[0].samples.num_classes
    # Per-class IoU needs every class's counts; the headline then reads its own classes.
    if per_class:
        columns, select = list(range(num_classes)), list(metric.classes or range(num_classes))
    else:
        columns, select = (None if metric.classes is None else list(metric.classes)), slice(None)
    counts = np.hstack([r.samples.columns(columns) for r in runs])
    width = counts.shape[1] // (3 * len(runs))
    split = len(a)

    def score(sums: np.ndarray, wa: np.ndarray, wb: np.ndarray):
        """Per method: (headline (R,), per-class IoU (R, C) or None), averaged over seeds."""
        tp, gt, pred = np.moveaxis(sums.reshape(len(sums), len(runs), 3, width), 2, 0)
        head = metric.value(tp[..., select], gt[..., select], pred[..., select])
        iou = _iou(tp, gt, pred) if per_class else None
        return [(_seed_mean(head[:, part], w), None if iou is None else _seed_mean(iou[:, part], w))
                for part, w in ((slice(None, split), wa), (slice(split, None), wb))]

    seeds_a, seeds_b = sorted(r.seed for r in a), sorted(r.seed for r in b)
    paired = seeds_a == seeds_b
    (va, ca), (vb, cb) = score(counts.sum(0)[None], np.ones((1, len(a))), np.ones((1, len(b))))

    rng = np.random.default_rng(seed)
    if paired:
        wa, wb = np.ones((n_resamples, len(a))), np.ones((n_resamples, len(b)))
    else:
        # Seeds come from a child stream, so the image draws are the same in both schemes.
        seed_rng = rng.spawn(1)[0]
        wa, wb = (resample_counts(seed_rng, n_resamples, len(r)) for r in (a, b))
    parts, start = [], 0
    for sums in resampled_sums(counts, n_resamples, rng):
        stop = start + len(sums)
        parts.append(score(sums, wa[start:stop], wb[start:stop]))
        start = stop
    boot_a = np.concatenate([p[0][0] for p in parts])
    boot_b = np.concatenate([p[1][0] for p in parts])
    delta = va[0] - vb[0]
    result = dict(
        a=names[0], b=names[1], metric=metric.name,
        scheme="paired seeds" if paired else "two-level", seeds_a=seeds_a, seeds_b=seeds_b,
        n_images=runs[0].samples.n_images, n_resamples=n_resamples, seed=seed,
        confidence=confidence, value_a=_number(va[0]), value_b=_number(vb[0]),
        interval_a=percentile_interval(boot_a, confidence),
        interval_b=percentile_interval(boot_b, confidence),
        delta=_number(delta), interval=percentile_interval(boot_a - boot_b, confidence),
        p_value=two_sided_p(boot_a - boot_b, delta),
    )
    if per_class:
        boot = np.concatenate([p[0][1] - p[1][1] for p in parts])
        labels = list(class_names or map(str, range(num_classes)))
        result["per_class"] = [
            ClassDelta(name=labels[c], a=_number(ca[0, c]), b=_number(cb[0, c]),
                       delta=_number(ca[0, c] - cb[0, c]),
                       interval=percentile_interval(boot[:, c], confidence))
            for c in range(num_classes)]
    return Comparison(**result)


def rank_groups(
    runs_by_method: Mapping[str, Sequence[Run]], best: str, metric: Metric, **options
) -> dict[str, bool]:
    """For each method, whether it differs significantly (p < 0.05) from ``best``.

    One test per method against the best, each at 5% without a multiplicity correction:
    the leaderboard's "not distinguishable from the best" group. ``options`` go to
    :func:`compare` (``n_resamples``, ``seed``).
    """
    check_name("method", best, runs_by_method)
    return {name: name != best and compare(runs, runs_by_method[best], metric,
                                           names=(name, best), **options).significant()
            for name, runs in runs_by_method.items()}


def _fmt(value: float | None, sign: bool = False) -> str:
    return "-" if value is None else f"{value:+.2f}" if sign else f"{value:.2f}"


def _fmt_interval(interval: tuple[float, float] | None, sign: bool = False) -> str:
    return "-" if interval is None else \
        f"[{_fmt(interval[0], sign)}, {_fmt(interval[1], sign)}]"


def compare_table(result: Comparison) -> Table:
    """The comparison as a rich table: headline row, then per-class IoU rows if computed."""
    level = f"{result.confidence:.0%}"
    seeds = (f"seeds {result.seeds_a} paired" if result.scheme == "paired seeds" else
             f"seeds {result.seeds_a} vs {result.seeds_b} resampled (two-level)")
    table = Table(
        title=f"{result.a} vs {result.b}: {result.metric}",
        caption=(f"Δ = {result.a} - {result.b}; {level} percentile intervals and two-sided p "
                 f"from a paired bootstrap over {result.n_images} test images "
                 f"({result.n_resamples:,} resamples, seed {result.seed}); {seeds}"))
    for header in ("", result.a, result.b, "Δ", f"{level} interval", "p"):
        table.add_column(header, justify="left" if not header else "right")
    style = "bold" if result.significant(1 - result.confidence) else None
    table.add_row(result.metric,
                  f"{_fmt(result.value_a)} {_fmt_interval(result.interval_a)}",
                  f"{_fmt(result.value_b)} {_fmt_interval(result.interval_b)}",
                  _fmt(result.delta, sign=True), _fmt_interval(result.interval, sign=True),
                  f"{result.p_value:.3g}", style=style)
    for row in result.per_class or []:
        table.add_row(f"IoU {row.name}", _fmt(row.a), _fmt(row.b), _fmt(row.delta, sign=True),
                      _fmt_interval(row.interval, sign=True), "")
    return table
