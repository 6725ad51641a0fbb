"""Selection on the leaderboard: every method under every rule, the selection gap, how
well each validator ranks checkpoints, and seeds that collapsed.

Rules and validators are compared on the same runs, point for point: the gap of a
rule is the oracle's target number minus the rule's, per run, averaged over seeds
(the cost of not having target labels to choose with).
"""

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr

from harness.leaderboard.aggregate import (
    backbone_name,
    headlines,
    mean_se,
    method_label,
    ranked,
)
from harness.protocol import Protocol
from harness.results import RunRecord

#: Musgrave et al. (2022), "Benchmarking Validation Methods for Unsupervised Domain
#: Adaptation": weighted Spearman with weights (rank of the validator score / N) ** 2,
#: so the checkpoints a validator would pick weigh most.
WEIGHT_POWER = 2
#: A class "collapsed" in a seed when its per-class score is below this (%) while the
#: median of the other seeds of the same method is above ``COLLAPSE_OTHERS``.
COLLAPSE_BELOW, COLLAPSE_OTHERS = 1.0, 10.0


def _headline(protocol: Protocol, metrics) -> float | None:
    return next(iter(headlines(protocol, metrics).values()))


def _picked(protocol: Protocol, record: RunRecord, rule: str) -> float | None:
    """The target headline at the point ``rule`` picks; None where it picks none (a
    validator that scored no point of the run)."""
    iteration = record.selection.picks.get(rule)
    if iteration is None:
        return None
    return _headline(protocol, next(p for p in record.evaluations if p.iter == iteration).target)


def rule_table(protocol: Protocol, records: list[RunRecord]) -> pd.DataFrame:
    """(method, backbone) x rule: target headline at the rule's pick, and the gap to oracle."""
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for r in records:
        if r.evaluations and r.selection.picks:
            groups.setdefault((r.method.name, r.backbone.name), []).append(r)
    rows = []
    for (_, backbone), runs in sorted(groups.items()):
        row = {"method": method_label(protocol, runs[0]), "backbone": backbone,
               "seeds": len(runs)}
        oracle = [_picked(protocol, r, "oracle") for r in runs]
        for rule in runs[0].selection.picks:
            values = [_picked(protocol, r, rule) for r in runs]
            # Seeds where the rule picked nothing are left out, and the cell says so.
            partial = "" if None not in values else \
                f" ({len(values) - values.count(None)} of {len(values)} seeds)"
            label = f"{rule} (oracle: target labels)" if rule == "oracle" else rule
            row[label] = mean_se(values) + partial
            if rule != "oracle":
                row[f"gap {rule}"] = mean_se([None if v is None else o - v
                                              for o, v in zip(oracle, values)]) + partial
        rows.append(row)
    return pd.DataFrame(rows).fillna("-")


def weighted_spearman(scores: np.ndarray, target: np.ndarray,
                      power: float = WEIGHT_POWER) -> float:
    """Pearson correlation of the ranks, each point weighted by its score's rank ** power."""
    weights = (rankdata(scores, method="dense") / len(np.unique(scores))) ** power
    x, y = rankdata(scores), rankdata(target)
    mx, my = np.average(x, weights=weights), np.average(y, weights=weights)
    cov = np.average((x - mx) * (y - my), weights=weights)
    var = np.average((x - mx) ** 2, weights=weights) * np.average((y - my) ** 2, weights=weights)
    return float(cov / np.sqrt(var)) if var > 0 else float("nan")


def validator_table(protocol: Protocol, records: list[RunRecord],
                    higher_is_better: dict[str, bool]) -> pd.DataFrame:
    """Per validator: how its scores rank the checkpoints of every ranked run by target.

    Scores of lower-is-better validators are negated first, so a positive
    correlation always means "the validator prefers the better checkpoints".
    """
    points = [p for r in records if ranked(protocol, r) for p in r.evaluations]
    rows = []
    for name, higher in sorted(higher_is_better.items()):
        pairs = [(p.validators[name], _headline(protocol, p.target)) for p in points
                 if p.validators.get(name) is not None
                 and _headline(protocol, p.target) is not None]
        if len(pairs) < 3:
            continue
        scores, target = (np.array(v, dtype=float) for v in zip(*pairs))
        scores = scores if higher else -scores
        rows.append({"validator": name, "direction": "higher" if higher else "lower",
                     "checkpoints": len(pairs),
                     "Spearman": f"{spearmanr(scores, target).statistic:.3f}",
                     "weighted Spearman": f"{weighted_spearman(scores, target):.3f}"})
    return pd.DataFrame(rows)


def collapsed_seeds(protocol: Protocol, records: list[RunRecord]) -> list[str]:
    """Runs in which a class scored ~0 while the other seeds of the method have it."""
    per_class = "iou" if protocol.task == "segmentation" else "acc"
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for r in records:
        groups.setdefault((r.method.name, backbone_name(r)), []).append(r)
    found = []
    for (method, backbone), runs in sorted(groups.items()):
        for r in runs:
            others = [o for o in runs if o is not r]
            for i, cls in enumerate(r.metrics["target"].classes):
                mine = getattr(r.metrics["target"], per_class)[i]
                rest = [v for o in others
                        if (v := getattr(o.metrics["target"], per_class)[i]) is not None]
                if (mine is not None and mine < COLLAPSE_BELOW and rest
                        and np.median(rest) > COLLAPSE_OTHERS):
                    found.append(f"{method} / {backbone} seed {r.seed}: {cls} at {mine:.1f} "
                                 f"(other seeds median {np.median(rest):.1f})")
    return found
