"""Leaderboards: result records -> one markdown page per protocol, plus an index.

Reproduced rows are the mean and standard error over seeds of runs of the
protocol file as it stands (same hash, no ``--set`` overrides of settings);
other runs are counted as excluded, never mixed in.
The papers' numbers from ``results/reported/`` are shown beside them, marked.
The pages hold no timestamps, so ``--check`` can compare them byte for byte.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from harness import PROJECT_ROOT
from harness.evaluation.metrics import MISSING_RULE
from harness.protocol import Protocol, load_protocol, protocol_names
from harness.results import DomainMetrics, RunRecord, load_records
from harness.utils import atomic_write

REPORTED_DIR = PROJECT_ROOT / "results" / "reported"
#: The reported CSVs name their source document by file; the leaderboard by paper.
PAPERS = {
    "000": "Calibrator (Ye et al., CVPR 2020)",
    "001": "Li, thesis (2020)",
    "002": "PLCA (Kang et al., NeurIPS 2020)",
    "003": "AdapterNet (Hazan et al.)",
    "004": "CBST (Zou et al., ECCV 2018)",
}
#: Per-class columns are shown up to this many classes.
MAX_CLASS_COLUMNS = 40
#: The reported CSVs abbreviate two Cityscapes class names.
REPORTED_CLASS_ALIASES = {"light": "traffic light", "sign": "traffic sign"}


def _present(values: list[float | None]) -> np.ndarray:
    return np.array([v for v in values if v is not None], dtype=float)


def _se(vals: np.ndarray) -> float:
    """Standard error of the mean over seeds (0 for a single seed)."""
    return float(vals.std(ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else 0.0


def _mean_se(values: list[float | None]) -> str:
    vals = _present(values)
    if len(vals) == 0:
        return "-"
    if len(vals) == 1:
        return f"{vals[0]:.2f}"
    return f"{vals.mean():.2f} ± {_se(vals):.2f}"


def headlines(protocol: Protocol, metrics) -> dict[str, float | None]:
    """The protocol's headline numbers of one domain: accuracy, or the mIoU over each
    reported class subset ("all" = every class); SYNTHIA reports 16 and 13, never 19."""
    if protocol.task != "segmentation":
        return {"acc": metrics.pixel_acc}
    return {("mIoU" if s == "all" else f"mIoU {s}"):
            (metrics.miou if s == "all" else metrics.subsets[s]["miou"])
            for s in protocol.report_subsets}


def _as_written(protocol: Protocol, record: RunRecord) -> bool:
    """A run of the protocol file as it stands, without setting overrides.

    ``model.*`` options (a local weights path) do not change the benchmark.
    """
    return record.protocol["hash"] == protocol.hash and not any(
        not key.startswith("model.") for key in record.protocol["overrides"])


def _is_oracle(record: RunRecord) -> bool:
    return record.method["name"] == "oracle"


def _ranked(protocol: Protocol, record: RunRecord) -> bool:
    """Ranked with the others: never the oracle, and target-label users only on
    protocols where every method uses target labels (supervised adaptation)."""
    return not _is_oracle(record) and (
        protocol.target_labels or not record.method["uses_target_labels"])


def _method_label(protocol: Protocol, record: RunRecord) -> str:
    name = record.method["name"]
    if _is_oracle(record):
        return f"{name} (upper bound: trained on target labels)"
    if record.method["uses_target_labels"] and not protocol.target_labels:
        return f"{name} (uses target labels: not ranked)"
    return name


def reproduced_table(protocol: Protocol, records: list[RunRecord]) -> pd.DataFrame:
    per_class = "iou" if protocol.task == "segmentation" else "acc"
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for r in records:
        groups.setdefault((r.method["name"], r.backbone["name"]), []).append(r)
    rows = []
    for (_, backbone), runs in groups.items():
        runs = sorted(runs, key=lambda r: r.seed)
        t = [r.metrics["target"] for r in runs]
        s = [r.metrics["source"] for r in runs]
        row = {"method": _method_label(protocol, runs[0]), "backbone": backbone,
               "seeds": len({r.seed for r in runs})}
        target = [headlines(protocol, m) for m in t]
        source = [headlines(protocol, m) for m in s]
        for label in target[0]:
            row[f"target {label}"] = _mean_se([h[label] for h in target])
            row[f"source {label}"] = _mean_se([h[label] for h in source])
        for variant in t[0].variants:  # e.g. the calibrator's frozen model without it
            for domain, ms in (("target", t), ("source", s)):
                values = [headlines(protocol, DomainMetrics.model_validate(
                    {**m.variants[variant], "variants": {}})) for m in ms]
                for label in values[0]:
                    row[f"{domain} {label} ({variant})"] = _mean_se([v[label] for v in values])
        if protocol.task == "classification":
            row["target mean class acc"] = _mean_se([m.mean_acc for m in t])
        row["selection"] = runs[0].selection["rule"]
        if len(t[0].classes) <= MAX_CLASS_COLUMNS:  # ImageNet's 1,000 stay in the records
            for i, cls in enumerate(t[0].classes):
                row[cls] = _mean_se([getattr(m, per_class)[i] for m in t])
        first = next(iter(target[0]))
        row["_sort"] = (not _ranked(protocol, runs[0]),
                        -float(np.mean([h[first] or 0 for h in target])))
        row["_points"] = ([h[first] for h in source], [h[first] for h in target], first)
        rows.append(row)
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows).sort_values("_sort", kind="stable").drop(columns="_sort")
    # Per-class columns last, whichever row introduced the other columns.
    classes = [c for c in records[0].metrics["target"].classes if c in df.columns]
    df = df[[c for c in df.columns if c not in classes] + classes]
    return df.fillna("-").reset_index(drop=True)


def plot_tradeoff(protocol: Protocol, table: pd.DataFrame, path: Path) -> None:
    """Source vs target headline metric, one point per row, standard-error bars.

    The argument of the Calibrator paper (seed 000, Fig. 2): adaptation that
    costs source accuracy is visible here, not in a target-only table.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    label = "accuracy"
    for _, row in table.iterrows():
        src, tgt, label = row["_points"]
        src, tgt = _present(src), _present(tgt)
        ax.errorbar(src.mean(), tgt.mean(), xerr=_se(src), yerr=_se(tgt), fmt="o", capsize=3,
                    label=f"{row['method']} ({row['backbone']})")
    ax.set_xlabel(f"source {label} (%)")
    ax.set_ylabel(f"target {label} (%)")
    ax.set_title(f"{protocol.name}: source vs target")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})  # no version stamp in the file
    plt.close(fig)


def reported_table(protocol: Protocol) -> pd.DataFrame:
    if protocol.reported is None:
        return pd.DataFrame()
    csv = pd.read_csv(REPORTED_DIR / protocol.reported.file, dtype={"value": str})
    csv = csv[csv["task"].isin(protocol.reported.tasks)]
    if csv.empty:
        return pd.DataFrame()
    csv = csv.assign(
        column=np.where(csv["class"].notna(),
                        csv["class"].map(lambda c: REPORTED_CLASS_ALIASES.get(c, c)),
                        csv["metric"]),
        paper=csv["source_doc"].str.slice(0, 3).map(PAPERS) + ", " + csv["table"],
    )
    keys = ["paper", "task", "method", "backbone"]
    wide = csv.fillna({"backbone": ""}).pivot_table(
        index=keys, columns="column", values="value", aggfunc="first", sort=False
    ).reset_index()
    headline = [c for c in ("miou", "miou16", "miou13", "accuracy", "top1", "fwiou", "pixel_acc")
                if c in wide.columns]
    classes = [c for c in wide.columns if c not in keys + headline]
    return wide[keys + headline + classes].fillna("-")


def render(protocol: Protocol, records: list[RunRecord], excluded: list[RunRecord],
           table: pd.DataFrame) -> str:
    """One protocol's page; ``table`` is ``reproduced_table(protocol, records)``."""
    lines = [f"# {protocol.name}", "", protocol.description, ""]
    lines.append(
        f"Task: {protocol.task}; classes: `{protocol.classes}`; protocol hash "
        f"`{protocol.hash[:12]}`; model selection: `{protocol.selection.rule}`."
    )
    if protocol.variant_of:
        lines += ["", f"**Not the paper's protocol**: a reduced variant of {protocol.variant_of}."]
    if protocol.target_labels:
        lines += ["", "Adaptation uses **target labels** on this protocol (supervised adaptation)."]
    lines += ["", "## Reproduced", ""]
    if table.empty:
        lines.append("No runs yet: `harness run --protocol "
                     f"{protocol.name} --results-dir results/runs`.")
    else:
        lines.append("Mean ± standard error over seeds; per-class columns are target "
                     f"{'IoU' if protocol.task == 'segmentation' else 'accuracy'} (%).")
        shown = table.drop(columns="_points")
        lines += ["", shown.to_markdown(index=False, disable_numparse=True), ""]
        lines += [f"![source vs target](plots/{protocol.name}_tradeoff.png)", ""]
        ids = ", ".join(f"`{r.run_id}`" for r in sorted(records, key=lambda r: r.run_id))
        lines.append(f"Runs: {ids}.")
    if excluded:
        lines += ["", f"Excluded: {len(excluded)} run(s) made with overrides or with another "
                      "version of this protocol (hash differs)."]
    reported = reported_table(protocol)
    if not reported.empty:
        lines += ["", "## Reported by the papers (not reproduced here)", "",
                  f"From `results/reported/{protocol.reported.file}`, values as printed.", "",
                  reported.to_markdown(index=False, disable_numparse=True)]
    lines += ["", MISSING_RULE, ""]
    return "\n".join(lines)


def render_index(summaries: list[dict]) -> str:
    df = pd.DataFrame(summaries)
    return "\n".join(["# Leaderboards", "",
                      "One page per protocol; generated by `harness leaderboard` from "
                      "`results/runs/` and `results/reported/`. Do not edit by hand.", "",
                      df.to_markdown(index=False, disable_numparse=True), ""])


def build_pages(runs_dir: Path) -> tuple[dict[str, str], list[str], dict]:
    """Every page's text, the problems found in the records, and the plots to draw."""
    records, errors = load_records(runs_dir)
    problems = [str(e) for e in errors]
    pages, summaries, plots = {}, [], {}
    for name in protocol_names():
        protocol = load_protocol(name)
        mine = [r for r in records if r.protocol["name"] == name]
        current = [r for r in mine if _as_written(protocol, r)]
        excluded = [r for r in mine if not _as_written(protocol, r)]
        table = reproduced_table(protocol, current)
        pages[f"{name}.md"] = render(protocol, current, excluded, table)
        if current:
            plots[f"plots/{name}_tradeoff.png"] = (protocol, table)
        ranked = [r for r in current if _ranked(protocol, r)]
        leaders = reproduced_table(protocol, ranked)
        best = "-"
        if not leaders.empty:
            label = next(c for c in leaders.columns if c.startswith("target "))
            best = f"{leaders.loc[0, 'method']}: {label} {leaders.loc[0, label]}"
        summaries.append({
            "protocol": f"[{name}]({name}.md)",
            "task": protocol.task,
            "runs": len(current),
            "best ranked method (mean over seeds)": best,
        })
    known = set(protocol_names())
    problems += [f"{r.protocol['name']}: record {r.run_id} names an unknown protocol"
                 for r in records if r.protocol["name"] not in known]
    pages["README.md"] = render_index(summaries)
    return pages, problems, plots


def build_all(runs_dir: Path, out_dir: Path, check: bool, console) -> int:
    pages, problems, plots = build_pages(runs_dir)
    for problem in problems:
        console.print(f"skipped: {problem}", style="yellow", markup=False)
    if check:
        stale = [n for n, text in pages.items()
                 if not (out_dir / n).is_file() or (out_dir / n).read_text() != text]
        extra = sorted(p.name for p in out_dir.glob("*.md") if p.name not in pages)
        # Plots are checked for presence only: PNG bytes vary with matplotlib's version.
        stale += [n for n in plots if not (out_dir / n).is_file()]
        for name in stale:
            console.print(f"out of date: {out_dir / name}", style="red", markup=False)
        for name in extra:
            console.print(f"not generated by any protocol: {out_dir / name}", style="red",
                          markup=False)
        if stale or extra or problems:
            console.print("run `harness leaderboard` and commit leaderboards/", markup=False)
            return 1
        console.print(f"leaderboards up to date ({len(pages)} pages)", markup=False)
        return 0
    for name, text in pages.items():
        atomic_write(out_dir / name, text)
    for name, (protocol, table) in plots.items():
        plot_tradeoff(protocol, table, out_dir / name)
    console.print(f"wrote {len(pages)} pages to {out_dir}", markup=False)
    return 1 if problems else 0
