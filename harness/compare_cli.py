"""``harness compare``: is method A better than method B on a protocol? (see harness.compare)

A and B name runs in a runs folder: ``method`` or ``method/backbone`` (the runs the
leaderboard aggregates: the protocol file as it stands, no setting overrides; external
predictions have the backbone "-"), or comma-separated run ids (any runs of the protocol,
overrides included).
"""

import json
from pathlib import Path

# Imported by the CLI's parser: the statistics modules are imported by the command only.


def add_compare_parser(verbs, runs_dir: Path) -> None:
    p = verbs.add_parser(
        "compare", help="paired bootstrap test of two methods' runs on a protocol")
    p.add_argument("--protocol", required=True)
    p.add_argument("a", metavar="A", help="method, method/backbone, or run ids (comma-separated)")
    p.add_argument("b", metavar="B", help="the same for the second side")
    p.add_argument("--per-class", action="store_true", help="also each class's Δ IoU or accuracy")
    p.add_argument("--json", action="store_true", help="print the comparisons as JSON")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--resamples", type=int, default=10_000,
                   help="bootstrap resamples (default 10,000)")
    p.add_argument("--runs", type=Path, default=runs_dir,
                   help=f"folder of result records (default: {runs_dir})")


def select_runs(records, protocol, spec: str) -> list:
    """The records ``spec`` names among the ``records`` of ``protocol`` (see the module doc)."""
    from harness.compare import CompareError
    from harness.leaderboard.aggregate import as_written, backbone_name
    from harness.names import check_name

    mine = [r for r in records if r.protocol.name == protocol.name]
    by_id = {r.run_id: r for r in mine}
    ids = spec.split(",")
    if all(i in by_id for i in ids):
        return [by_id[i] for i in ids]
    if len(ids) > 1:
        check_name(f"run id of {protocol.name}", next(i for i in ids if i not in by_id), by_id)
    method, _, backbone = spec.partition("/")
    check_name(f"method with runs on {protocol.name}", method, {r.method.name for r in mine})
    # A method's name selects its ordinary runs; runs with another run's weights (SUIT's
    # transplant) are rows of their own on the leaderboard: compare them by run id.
    runs = [r for r in mine if r.method.name == method and not r.method.loaded_weights]
    backbones = sorted({backbone_name(r) for r in runs})
    if backbone:
        check_name(f"backbone of {method}'s runs", backbone, backbones)
        runs = [r for r in runs if backbone_name(r) == backbone]
    elif len(backbones) > 1:
        raise CompareError(f"{method} has runs with several backbones on {protocol.name}: "
                           f"name one, e.g. {', '.join(f'{method}/{b}' for b in backbones)}")
    current = [r for r in runs if as_written(protocol, r)]
    if not current:
        raise CompareError(
            f"none of the {len(runs)} run(s) of {spec} is of {protocol.name} as it stands (they "
            "use overrides or another version of the protocol); pass their run ids to compare "
            f"them anyway: {','.join(r.run_id for r in runs)}")
    return current


def comparisons(runs_dir: Path, protocol: str, a: str, b: str, **options):
    """One :class:`~harness.compare.Comparison` per headline metric of the protocol."""
    from harness.compare import CompareError, Run, compare, headline_metrics
    from harness.protocol import load_protocol
    from harness.record_samples import load_run_samples
    from harness.results import load_records

    proto = load_protocol(protocol)
    records, _ = load_records(runs_dir)
    if not any(r.protocol.name == proto.name for r in records):
        raise CompareError(f"{runs_dir}: no runs of {proto.name}; run some with "
                           f"harness run --protocol {proto.name} --results-dir {runs_dir}")
    sides = [select_runs(records, proto, spec) for spec in (a, b)]
    missing = [r for side in sides for r in side if r.samples is None]
    if missing:
        raise CompareError(
            f"{len(missing)} of the runs have no per-image counts (recorded before they were "
            "kept), so they cannot be compared; re-run them:\n" + "\n".join(
                f"  harness run --protocol {r.protocol.name} --method {r.method.name} "
                f"--backbone {r.backbone.name} --seed {r.seed} --results-dir {runs_dir}  "
                f"(then delete {r.run_id}.json)" for r in missing))
    runs = [[Run(r.seed, load_run_samples(r, runs_dir)) for r in side] for side in sides]
    first = sides[0][0]
    per_class = options.pop("per_class", False)
    return [compare(*runs, metric, names=(a, b), per_class=per_class and i == 0,
                    class_names=first.metrics["target"].classes, **options)
            for i, metric in enumerate(headline_metrics(first))]


def cmd_compare(args) -> int:
    from rich.console import Console

    from harness.compare import compare_table

    results = comparisons(args.runs, args.protocol, args.a, args.b, per_class=args.per_class,
                          seed=args.seed, n_resamples=args.resamples)
    if args.json:
        print(json.dumps({"protocol": args.protocol,
                          "comparisons": [r.model_dump(mode="json") for r in results]},
                         indent=1))
        return 0
    console = Console(highlight=False)
    for result in results:
        console.print(compare_table(result))
    return 0
