"""Records -> tables: which runs count, mean ± standard error over seeds, ranking.

Reproduced rows are the mean and standard error over seeds of runs of the
protocol file as it stands (same hash, no ``--set`` overrides of settings);
other runs are counted as excluded, never mixed in.
"""

from typing import NamedTuple

import numpy as np
import pandas as pd

from harness.protocol import Protocol
from harness.results import DomainMetrics, RunRecord

#: Per-class columns are shown up to this many classes.
MAX_CLASS_COLUMNS = 40


def present(values: list[float | None]) -> np.ndarray:
    """The values that exist (a class absent from both labels and predictions has none)."""
    return np.array([v for v in values if v is not None], dtype=float)


def standard_error(vals: np.ndarray) -> float:
    """Standard error of the mean over seeds (0 for a single seed)."""
    return float(vals.std(ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else 0.0


def mean_se(values: list[float | None]) -> str:
    vals = present(values)
    if len(vals) == 0:
        return "-"
    if len(vals) == 1:
        return f"{vals[0]:.2f}"
    return f"{vals.mean():.2f} ± {standard_error(vals):.2f}"


def headlines(protocol: Protocol, metrics: DomainMetrics) -> dict[str, float | None]:
    """The protocol's headline numbers of one domain: accuracy, or the mIoU over each
    reported class subset ("all" = every class); SYNTHIA reports 16 and 13, never 19."""
    if protocol.task != "segmentation":
        return {"acc": metrics.pixel_acc}
    return {("mIoU" if s == "all" else f"mIoU {s}"):
            (metrics.miou if s == "all" else metrics.subsets[s]["miou"])
            for s in protocol.report_subsets}


def as_written(protocol: Protocol, record: RunRecord) -> bool:
    """A run of the protocol file as it stands, without setting overrides, and with
    its method's ``[methods.NAME]`` table as it stands (train budget and hparams).

    ``model.*`` options (a local weights path) do not change the benchmark, nor do the
    method's hyper-parameters that name another run's weights (``method.loaded_weights``,
    e.g. SUIT's transplanted generator): the record names that run, and the row says so.
    """
    method = record.method.name
    settings = protocol.methods.get(method)
    table_hparams = settings.hparams if settings else {}
    loaded = {f"method.{part}" for part in record.method.loaded_weights}
    return (record.protocol.hash == protocol.hash
            and record.protocol.effective_hash == protocol.for_method(method).hash
            and all(record.method.hparams.get(k) == v for k, v in table_hparams.items())
            and not any(not key.startswith("model.") and key not in loaded
                        for key in record.protocol.overrides))


def split_runs(protocol: Protocol, records: list[RunRecord]
               ) -> tuple[list[RunRecord], list[RunRecord]]:
    """This protocol's runs: (as written, excluded)."""
    mine = [r for r in records if r.protocol.name == protocol.name]
    return ([r for r in mine if as_written(protocol, r)],
            [r for r in mine if not as_written(protocol, r)])


def is_oracle(record: RunRecord) -> bool:
    return record.method.name == "oracle"


def ranked(protocol: Protocol, record: RunRecord) -> bool:
    """Ranked with the others: never the oracle, and target-label users only on
    protocols where every method uses target labels (supervised adaptation)."""
    return not is_oracle(record) and (
        protocol.target_labels or not record.method.uses_target_labels)


def backbone_name(record: RunRecord) -> str:
    """The backbone column: "-" for external predictions, which declare none."""
    return record.backbone.name if record.backbone else "-"


def method_label(protocol: Protocol, record: RunRecord) -> str:
    name = record.method.name
    if record.external:
        return f"{name} (external predictions)"
    if record.selection.uses_target_labels:
        name = f"{name} [selected on target labels]"
    if is_oracle(record):
        return f"{name} (upper bound: trained on target labels)"
    if record.method.uses_target_labels and not protocol.target_labels:
        return f"{name} (uses target labels: not ranked)"
    if record.method.source_free:
        name = f"{name} (source-free)"
    if record.method.loaded_weights:  # a row of its own, e.g. SUIT's transplant
        parts = ", ".join(f"{part} from {w.method} / {w.backbone}"
                          for part, w in sorted(record.method.loaded_weights.items()))
        name = f"{name} ({parts})"
    return name


def train_hours_cell(runs: list[RunRecord]) -> str:
    """Mean device-hours of one run's training (wall time x processes: GPUs, or CPU
    processes), in the unit of the device the runs used; "-" for external predictions."""
    trained = [r for r in runs if r.train is not None]
    if not trained:
        return "-"
    hours = [r.train.wall_time_s * r.device.world_size / 3600 for r in trained]
    kinds = {r.device.type for r in trained}
    unit = {"cuda": "GPU-h", "cpu": "CPU-h"}.get(kinds.pop()) if len(kinds) == 1 else None
    return f"{np.mean(hours):.3f} {unit or 'h (mixed devices)'}"


def peak_memory_cell(runs: list[RunRecord]) -> str:
    """The largest peak over the runs: GPU tensors where they ran on CUDA, else the
    process's resident memory; "-" where no run recorded it (older records)."""
    gpu = [r.train.peak_cuda_mib for r in runs if r.train and r.train.peak_cuda_mib is not None]
    cpu = [r.train.peak_rss_mib for r in runs if r.train and r.train.peak_rss_mib is not None]
    if gpu:
        return f"{max(gpu) / 1024:.2f} GiB GPU"
    return f"{max(cpu) / 1024:.2f} GiB RAM" if cpu else "-"


class Reproduced(NamedTuple):
    """One row per (method, backbone), ranked rows first, best target headline first."""

    #: The page's table: formatted "mean ± SE" cells.
    table: pd.DataFrame
    #: Per row of ``table``: (source values, target values, headline name) over seeds,
    #: for the trade-off plot.
    points: pd.Series


def reproduced(protocol: Protocol, records: list[RunRecord]) -> Reproduced:
    per_class = "iou" if protocol.task == "segmentation" else "acc"
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for r in records:
        groups.setdefault((method_label(protocol, r), backbone_name(r)), []).append(r)
    rows = []
    for (shown, backbone), runs in groups.items():
        runs = sorted(runs, key=lambda r: r.seed)
        t = [r.metrics["target"] for r in runs]
        # External predictions have no source metrics: their source cells are "-".
        s = [r.metrics.get("source") for r in runs]
        row = {"method": shown, "backbone": backbone,
               "seeds": len({r.seed for r in runs})}
        target = [headlines(protocol, m) for m in t]
        source = [dict.fromkeys(target[0]) if m is None else headlines(protocol, m) for m in s]
        for label in target[0]:
            row[f"target {label}"] = mean_se([h[label] for h in target])
            row[f"source {label}"] = mean_se([h[label] for h in source])
        for variant in t[0].variants:  # e.g. the calibrator's frozen model without it
            for domain, ms in (("target", t), ("source", s)):
                values = [headlines(protocol, DomainMetrics.model_validate(
                    {**m.variants[variant], "variants": {}})) for m in ms]
                for label in values[0]:
                    row[f"{domain} {label} ({variant})"] = mean_se([v[label] for v in values])
        if protocol.task == "classification":
            row["target mean class acc"] = mean_se([m.mean_acc for m in t])
        row["selection"] = runs[0].selection.rule if runs[0].selection else "external"
        row["train time per run"] = train_hours_cell(runs)
        row["peak memory"] = peak_memory_cell(runs)
        if len(t[0].classes) <= MAX_CLASS_COLUMNS:  # ImageNet's 1,000 stay in the records
            for i, cls in enumerate(t[0].classes):
                row[cls] = mean_se([getattr(m, per_class)[i] for m in t])
        first = next(iter(target[0]))
        row["_sort"] = (not ranked(protocol, runs[0]),
                        -float(np.mean([h[first] or 0 for h in target])))
        row["_points"] = ([h[first] for h in source], [h[first] for h in target], first)
        rows.append(row)
    if not rows:
        return Reproduced(pd.DataFrame(), pd.Series())
    df = pd.DataFrame(rows).sort_values("_sort", kind="stable").drop(columns="_sort")
    df = df.reset_index(drop=True)
    points = df.pop("_points")
    # Per-class columns last, whichever row introduced the other columns.
    classes = [c for c in records[0].metrics["target"].classes if c in df.columns]
    df = df[[c for c in df.columns if c not in classes] + classes]
    return Reproduced(df.fillna("-"), points)


def foreign_source_models(records: list[RunRecord]) -> list[RunRecord]:
    """Runs that started from a trained source model other than the listed source_only run
    of their backbone and seed: matched by weights digest where both records keep it (a
    retrained cache entry has a new run id, the same digest), else by run id."""
    sources = {(r.backbone.name, r.seed): r for r in records if r.method.name == "source_only"}

    def same(used, source) -> bool:
        if source is None:
            return False
        if used.weights_sha256 and source.train.weights_sha256:
            return used.weights_sha256 == source.train.weights_sha256
        return used.run_id == source.run_id

    foreign = [r for r in records
               if r.method.source_model is not None
               and r.method.source_model.run_id is not None  # None: pretrained weights
               and not same(r.method.source_model, sources.get((r.backbone.name, r.seed)))]
    return sorted(foreign, key=lambda r: (r.method.name, r.seed))
