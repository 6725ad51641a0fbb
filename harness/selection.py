"""Model selection applied after the run: which evaluation point each rule picks.

Every run evaluates at several points (``eval.interval`` / ``eval.points``) and
keeps, per point, the target-test metrics, the source-validation metrics and
the validator scores. A rule reads only its own evidence:

- ``last``: the final point;
- ``source_val``: the best headline metric on the held-out source validation split;
- a validator's name: its best score on unlabeled target training data;
- ``oracle``: the best target-test headline metric. The only rule that reads
  target-test labels: the upper bound of selection, flagged wherever it appears.

As DomainBed's ``model_selection.py`` does, rules are plain functions of the
per-point records, so every rule's pick is stored and compared, not only the
declared one.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from harness.errors import HarnessError
from harness.names import UnknownNameError, check_name

FIXED_RULES = ("last", "source_val", "oracle")


class SelectionError(HarnessError, ValueError):
    """A selection rule or validator the protocol cannot apply."""


def validator_names() -> list[str]:
    from harness.evaluation.validators import VALIDATORS

    # "source_val" is a rule of its own (the source-val headline metric).
    return sorted(n for n in VALIDATORS if n not in FIXED_RULES)


def higher_is_better(validator: str) -> bool:
    from harness.evaluation.validators import VALIDATORS

    return VALIDATORS[validator].higher_is_better


def target_only(validators) -> list[str]:
    """The validators that read no source data (what a source-free run may use)."""
    from harness.evaluation.validate import SOURCE_KEYS
    from harness.evaluation.validators import build_validator

    return [v for v in validators if not build_validator(v).reads & SOURCE_KEYS]


def usable(protocol, source_free: bool) -> tuple[list[str], bool]:
    """(validators, whether source validation is read) for a run: a source-free run
    reads no source data, so it keeps only target-only validators and no source-val."""
    sel = protocol.selection
    if source_free:
        return target_only(sel.validators), False
    return list(sel.validators), sel.source_val_fraction is not None


def rule_names(protocol, source_free: bool = False) -> list[str]:
    """Every rule a run of ``protocol`` stores a pick for."""
    validators, source_val = usable(protocol, source_free)
    return ["last", *(["source_val"] if source_val else []), *validators, "oracle"]


def check_validator_names(protocol) -> None:
    """Every validator the protocol names is registered (checked when a run is planned:
    the registry imports torch, which listing protocols must not)."""
    known = validator_names()
    for name in protocol.selection.validators:
        check_name("validator", name, known)


def check_selection(protocol) -> None:
    """The declared rule has its evidence and the schedule fits the run."""
    sel = protocol.selection
    if sel.rule not in (*FIXED_RULES, *sel.validators):
        try:
            check_name("selection rule", sel.rule, [*FIXED_RULES, *sel.validators])
        except UnknownNameError as exc:
            raise SelectionError(f"{exc} A validator used as the rule must also be listed in "
                                 "selection.validators.") from None
    if sel.rule == "source_val" and sel.source_val_fraction is None:
        raise SelectionError("selection.rule = 'source_val' needs a source validation split: "
                             "set selection.source_val_fraction (e.g. 0.1)")
    points = protocol.eval.points
    if points is not None and points > protocol.train.iters:
        raise SelectionError(f"eval.points = {points} is more than train.iters = "
                             f"{protocol.train.iters}: at most one evaluation per iteration")
    if sel.rule != "last" and eval_iters(protocol) == [protocol.train.iters]:
        raise SelectionError(f"selection.rule = {sel.rule!r} needs several evaluation points: "
                             "set eval.interval or eval.points")


def eval_iters(protocol) -> list[int]:
    """The iterations after which the run evaluates (the last one always included).

    ``eval.points = k`` evaluates every ``iters // k`` iterations: k points when k
    divides the iterations, one more (the last) otherwise.
    """
    iters = protocol.train.iters
    if protocol.eval.interval is not None:
        every = protocol.eval.interval
    elif protocol.eval.points is not None:
        every = max(1, iters // protocol.eval.points)
    else:
        return [iters]
    # mmengine's loop evaluates at every multiple of the interval, and after the last.
    return [*range(every, iters, every), iters]


def headline_key(task: str, subsets: Sequence[str]) -> tuple[str | None, str]:
    """(subset or None, metric) of a protocol's headline number.

    Classification: accuracy. Segmentation: mIoU over all classes, or over the
    first declared subset where the protocol never reports all (SYNTHIA's 16).
    """
    if task == "classification":
        return None, "pixel_acc"
    return (None, "miou") if "all" in subsets else (subsets[0], "miou")


def headline(metrics: Mapping[str, Any], task: str, subsets: Sequence[str]) -> float | None:
    subset, key = headline_key(task, subsets)
    return metrics[key] if subset is None else metrics["subsets"][subset][key]


def _best(values: Sequence[float | None], higher: bool) -> int | None:
    """Index of the best value (the earliest among ties); None never wins, and where
    every value is None there is no pick."""
    best = None
    for i, v in enumerate(values):
        if v is None:
            continue
        if best is None or (v > values[best] if higher else v < values[best]):
            best = i
    return best


def picks(points: Sequence[Mapping[str, Any]], rules: Sequence[str], task: str,
          subsets: Sequence[str], higher_is_better: Mapping[str, bool]) -> dict[str, int | None]:
    """rule -> index of the point it picks, None for a validator that scored no point
    (see :class:`~harness.evaluation.validators.UndefinedScore`). Only ``oracle`` reads
    ``points[i]["target"]``."""
    chosen = {}
    for rule in rules:
        if rule == "last":
            chosen[rule] = len(points) - 1
        elif rule == "source_val":
            chosen[rule] = _best([headline(p["source_val"], task, subsets) for p in points], True)
        elif rule == "oracle":
            chosen[rule] = _best([headline(p["target"], task, subsets) for p in points], True)
        else:
            chosen[rule] = _best([p["validators"][rule] for p in points],
                                 higher_is_better[rule])
    return chosen
