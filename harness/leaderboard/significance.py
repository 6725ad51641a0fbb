"""Rank groups on a page: is each ranked row significantly different from the best one?

The test is :func:`harness.compare.rank_groups` on the rows' per-image target counts
(the side files beside the records). A page gets the column only when every run it
aggregates has its side file; otherwise it says so under the table.
"""

from pathlib import Path

import pandas as pd

from harness.compare import Run, headline_metrics, rank_groups
from harness.leaderboard.aggregate import backbone_name, method_label, ranked
from harness.per_sample import SamplesError
from harness.protocol import Protocol
from harness.record_samples import load_run_samples
from harness.results import RunRecord

#: Fixed, so that pages are reproducible byte for byte.
N_RESAMPLES = 10_000
SEED = 0
COLUMN = "differs from best (5%)"
NO_DATA = ("Significance: no per-sample data (some runs were recorded before per-image counts "
           "were kept; re-run them to see which rows differ from the best).")


def with_rank_groups(protocol: Protocol, records: list[RunRecord], table: pd.DataFrame,
                     runs_dir: Path) -> tuple[pd.DataFrame, str | None, list[str]]:
    """``table`` with the rank-group column, the line to print under it, and problems
    (side files that exist but cannot be read); no line for a page without runs."""
    if table.empty:
        return table, None, []
    if any(r.samples is None for r in records):
        return table, NO_DATA, []
    groups: dict[tuple[str, str], list[Run]] = {}
    try:
        for r in records:
            if ranked(protocol, r):
                key = (method_label(protocol, r), backbone_name(r))
                groups.setdefault(key, []).append(Run(r.seed, load_run_samples(r, runs_dir)))
    except SamplesError as exc:
        return table, NO_DATA, [str(exc)]
    rows = list(zip(table["method"], table["backbone"]))
    ranked_rows = [row for row in rows if row in groups]
    if not ranked_rows:
        return table, None, []
    best = ranked_rows[0]  # the table is sorted: ranked rows first, best headline first
    metric = headline_metrics(records[0])[0]  # the headline the table is sorted by
    names = {key: " / ".join(key) for key in groups}
    differs = rank_groups({names[k]: runs for k, runs in groups.items()}, names[best], metric,
                          n_resamples=N_RESAMPLES, seed=SEED)
    cells = ["best" if row == best else ("yes" if differs[names[row]] else "no")
             if row in groups else "-" for row in rows]
    table = table.copy()
    table.insert(table.columns.get_loc("seeds") + 1, COLUMN, cells)
    n_images = next(iter(groups.values()))[0].samples.n_images
    note = (f"Significance: \"{COLUMN}\" is a paired bootstrap test of each ranked row's "
            f"target {metric.name} against the best row's over the {n_images:,} target test "
            f"images ({N_RESAMPLES:,} resamples, seed {SEED}; seeds paired when both rows ran "
            "the same seeds, else resampled too), two-sided at 5%, one test per row without "
            "multiplicity correction (`harness compare` gives the intervals).")
    return table, note, []
