"""Markdown: one page per protocol and the index. No timestamps, so pages compare byte for byte."""

import pandas as pd

from harness import selection
from harness.evaluation.metrics import MISSING_RULE
from harness.leaderboard.aggregate import foreign_source_models
from harness.leaderboard.reported import reported_table
from harness.leaderboard.selection_tables import collapsed_seeds, rule_table, validator_table
from harness.protocol import Protocol
from harness.results import RunRecord

# Backslash first, so that an escape in the text cannot combine with ours; a line
# break would end the table row, so it becomes a space.
_MARKDOWN = str.maketrans({"\\": "\\\\", "|": "\\|", "`": "\\`", "\n": " ", "\r": " "})


def escape(text: str) -> str:
    """``text`` as literal markdown inside a table cell: no column breaks, code spans or rows."""
    return text.translate(_MARKDOWN)


def markdown_table(df: pd.DataFrame) -> str:
    """``df`` as a pipe table; every string (headers too) escaped, numbers as given."""
    cells = df.rename(columns=lambda c: escape(str(c))).map(
        lambda v: escape(v) if isinstance(v, str) else v)
    return cells.to_markdown(index=False, disable_numparse=True)


def render_page(protocol: Protocol, records: list[RunRecord], excluded: list[RunRecord],
                table: pd.DataFrame, note: str | None = None,
                pictures: list[tuple[str, str]] = ()) -> str:
    """One protocol's page; ``table`` is the reproduced table of ``records``, ``note`` a
    line under it; ``pictures``: (caption, link) of the pictures the runs' methods handed back."""
    lines = [f"# {protocol.name}", "", protocol.description, ""]
    lines.append(
        f"Task: {protocol.task}; classes: `{protocol.classes}`; protocol hash "
        f"`{protocol.hash[:12]}`; model selection: `{protocol.selection.rule}`."
    )
    if protocol.variant_of:
        lines += ["", f"**Not the paper's protocol**: a reduced variant of {protocol.variant_of}."]
    if protocol.target_labels:
        lines += ["", "Adaptation uses **target labels** on this protocol (supervised adaptation)."]
    if protocol.selection.rule == "oracle":
        lines += ["", "**Model selection used target-test labels (the `oracle` rule): these "
                      "numbers are an upper bound, not unsupervised results.**"]
    if protocol.notes:
        lines += ["", "## Findings", "", protocol.notes.strip()]
    lines += ["", "## Reproduced", ""]
    if table.empty:
        lines.append("No runs yet: `harness run --protocol "
                     f"{protocol.name} --results-dir results/runs`.")
    else:
        lines.append("Mean ± standard error over seeds; per-class columns are target "
                     f"{'IoU' if protocol.task == 'segmentation' else 'accuracy'} (%). "
                     "Train time per run: the mean over seeds of the run's training wall "
                     "time times its processes (device-hours; a method that starts from "
                     "the cached source model adds source_only's); peak memory: the largest "
                     "over seeds, of the GPU's tensors or else of the process's RAM "
                     "(\"-\": older records did not keep it).")
        lines += ["", markdown_table(table), ""]
        if note:
            lines += [note, ""]
        lines += [f"![source vs target](plots/{protocol.name}_tradeoff.png)", ""]
        # Run ids need no escaping: load_record checked each is its content's hex hash.
        ids = ", ".join(f"`{r.run_id}`" for r in sorted(records, key=lambda r: r.run_id))
        lines.append(f"Runs: {ids}.")
        uncommitted = sorted((r for r in records if r.code.dirty),
                             key=lambda r: (r.method.name, r.seed))
        if uncommitted:
            lines += ["", f"Started from uncommitted code (`code.dirty` in the record: the "
                          f"commit it names is not exactly what ran): {_named(uncommitted)}."]
        foreign = foreign_source_models(records)
        if foreign:
            lines += ["", "Started from a source model that is not the listed source_only "
                          "run of their seed (neither its weights digest nor, where the "
                          f"records lack one, its run id matches): {_named(foreign)}."]
        if any(r.method.source_free for r in records):
            lines += ["", "Rows marked source-free adapted without source data (the source "
                          "model's weights and unlabeled target data only); their source "
                          "columns evaluate the adapted model on the source test split after "
                          "training."]
    if pictures:
        lines += ["", "## Pictures", ""]
        lines += [f"![{escape(caption)}]({link})" for caption, link in pictures]
    lines += selection_section(protocol, records)
    if excluded:
        lines += ["", f"Excluded: {len(excluded)} run(s) made with overrides or with another "
                      "version of this protocol (hash differs)."]
    reported = reported_table(protocol)
    if not reported.empty:
        lines += ["", "## Reported by the papers (not reproduced here)", "",
                  f"From `results/reported/{protocol.reported.file}`, values as printed.", "",
                  markdown_table(reported)]
    lines += ["", MISSING_RULE, ""]
    return "\n".join(lines)


def _named(records: list[RunRecord]) -> str:
    """Runs as "method seed S (`run id`)", for the page's provenance lines."""
    return ", ".join(f"{escape(r.method.name)} seed {r.seed} (`{r.run_id}`)" for r in records)


def selection_section(protocol: Protocol, records: list[RunRecord]) -> list[str]:
    """Every rule's pick with its gap to the oracle, validator rank correlations, collapses."""
    lines = []
    rules = rule_table(protocol, records)
    if not rules.empty:
        lines += ["", "## Model selection", "",
                  f"The table above reports the `{protocol.selection.rule}` rule. Here: the "
                  "target number at the evaluation point each rule picks (mean ± standard "
                  "error over seeds), and the gap to the `oracle` pick (oracle minus rule, "
                  "per run): what choosing without target labels costs. `oracle` reads "
                  "target-test labels and is an upper bound, never a result.", "",
                  markdown_table(rules)]
    directions = {v: selection.higher_is_better(v) for v in protocol.selection.validators}
    validators = validator_table(protocol, records, directions)
    if not validators.empty:
        lines += ["", "## Validators", "",
                  "How each validator's score ranks the checkpoints of every ranked run "
                  "(all evaluation points) by target number: Spearman and weighted Spearman "
                  "(Musgrave et al., 2022; weights favour the checkpoints the validator "
                  "prefers). 1 is a perfect ranking; near 0, the validator is no guide here.",
                  "", markdown_table(validators)]
    collapsed = collapsed_seeds(protocol, records)
    if collapsed:
        lines += ["", "## Collapsed seeds", "",
                  "A class near 0 in one seed while the method's other seeds have it:"]
        lines += [f"- {escape(c)}" for c in collapsed]
    return lines


def render_index(summaries: list[dict]) -> str:
    return "\n".join(["# Leaderboards", "",
                      "One page per protocol; generated by `harness leaderboard` from "
                      "`results/runs/` and `results/reported/`. Do not edit by hand.", "",
                      markdown_table(pd.DataFrame(summaries)), ""])
