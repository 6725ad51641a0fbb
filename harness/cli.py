"""Command line: argparse + rich. Parsing and printing only; the work happens elsewhere.

Nothing here imports torch or mmseg at module level, so ``harness --help`` and
``harness list`` start in a fraction of a second.
"""

import argparse
import os
import sys
from pathlib import Path

from harness import PROJECT_ROOT
from harness.compare_cli import add_compare_parser, cmd_compare
from harness.errors import HarnessError
from harness.sweep import add_sweep_parser, cmd_sweep

DEFAULT_PROTOCOL = "digits_mnist_optdigits"
RESULTS_DIR = PROJECT_ROOT / "results" / "runs"


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--protocol", default=DEFAULT_PROTOCOL,
                   help=f"protocol name or .toml path (default: {DEFAULT_PROTOCOL})")
    p.add_argument("--method", help="registered method (default: the protocol's)")
    p.add_argument("--backbone", help="registered backbone (default: the protocol's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a protocol key (train.iters=100), a method hyper-parameter "
                        "(method.NAME=V) or a backbone option (model.init=PATH); repeatable")
    p.add_argument("--data-root", type=Path,
                   help="folder holding the datasets (default: $HARNESS_DATA or ./data)")
    p.add_argument("--work-dir", type=Path, help="checkpoints and logs (default: work_dirs/...)")
    p.add_argument("--launcher", choices=["none", "pytorch", "slurm"], default="none",
                   help="mmengine launcher for several GPUs/machines (torchrun or srun)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Run unsupervised domain adaptation methods on fixed protocols and "
                    "build leaderboards from the result records.",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")

    run = verbs.add_parser("run", help="train and evaluate one method on one protocol")
    _add_run_args(run)
    run.add_argument("--results-dir", type=Path, default=Path("work_dirs") / "records",
                     help="where the result record goes (default: work_dirs/records; "
                          "the committed reference runs live in results/runs)")
    run.add_argument("--resume", action="store_true", help="resume from the work dir's last checkpoint")
    run.add_argument("--dump-config", action="store_true",
                     help="print the compiled mmengine config and exit")
    run.add_argument("--quiet", action="store_true", help="no progress bars or summary")

    ev = verbs.add_parser("eval", help="evaluate a checkpoint, or score predictions made "
                                       "elsewhere, on a protocol's test splits")
    _add_run_args(ev)
    what = ev.add_mutually_exclusive_group(required=True)
    what.add_argument("--checkpoint", type=Path)
    what.add_argument("--predictions", type=Path,
                      help="score external predictions: a folder of PNGs (segmentation) or "
                           "predictions.csv (classification); writes a record")
    ev.add_argument("--out", type=Path, help="also write the metrics (with confusion matrices) "
                                             "as JSON to this file")
    ev.add_argument("--export-predictions", type=Path, metavar="DIR",
                    help="with --checkpoint: also write its target test predictions to DIR")
    ev.add_argument("--export-format", choices=["trainids", "cityscapes"], default="trainids",
                    help="PNG ids: trainIds (scored back by --predictions) or Cityscapes "
                         "labelIds (the official server's format)")
    ev.add_argument("--method-name", help="with --predictions: the name of the row")
    ev.add_argument("--citation", help="with --predictions: where the method is described")
    ev.add_argument("--results-dir", type=Path, default=Path("work_dirs") / "records",
                    help="with --predictions: where the record goes (default: work_dirs/records)")

    ls = verbs.add_parser("list", help="list protocols, methods or backbones")
    ls.add_argument("what", choices=["protocols", "methods", "backbones"])

    data = verbs.add_parser("data", help="check datasets or write test fixtures")
    data_verbs = data.add_subparsers(dest="data_verb", metavar="ACTION", required=True)
    check = data_verbs.add_parser("check", help="check a protocol's data layout and labels")
    check.add_argument("--protocol", required=True)
    check.add_argument("--data-root", type=Path)
    check.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                       help="protocol override, e.g. source.options.subset=2 to declare a subset")
    fetch = data_verbs.add_parser("fetch", help="download a protocol's files (pooch, pinned "
                                                "checksums)")
    fetch.add_argument("--protocol", required=True)
    fetch.add_argument("--data-root", type=Path)
    prepare = data_verbs.add_parser("prepare", help="generate files a loader needs that the "
                                                    "archive does not ship (cityscapes: "
                                                    "*_gtFine_labelTrainIds.png)")
    prepare.add_argument("--dataset", required=True)
    prepare.add_argument("--data-root", type=Path, required=True,
                         help="the dataset's own folder (cityscapes: the one holding gtFine/)")
    fixtures = data_verbs.add_parser("fixtures", help="write tiny format-faithful datasets")
    fixtures.add_argument("--dataset", required=True)
    fixtures.add_argument("--out", type=Path, required=True)

    board = verbs.add_parser("leaderboard", help="write leaderboards/ from results/runs")
    board.add_argument("--check", action="store_true",
                       help="fail if the committed leaderboards differ from the records")
    board.add_argument("--runs", type=Path, default=RESULTS_DIR)
    board.add_argument("--out", type=Path, default=PROJECT_ROOT / "leaderboards")

    add_compare_parser(verbs, RESULTS_DIR)

    drift = verbs.add_parser("drift", help="re-run the CI baselines and compare")
    drift.add_argument("--baseline", type=Path, default=PROJECT_ROOT / "results" / "baselines")
    add_sweep_parser(verbs)
    return parser


def cmd_list(args) -> int:
    if args.what == "protocols":
        from harness.protocol import load_protocol, protocol_names

        rows = [(n, load_protocol(n).description) for n in protocol_names()]
    else:
        from harness import catalog

        if args.what == "methods":
            traits = catalog.method_traits()
            rows = [(n, catalog.describe_traits(traits[n])) for n in sorted(traits)]
        else:
            rows = [(n, "") for n in catalog.backbone_names()]
    for name, text in rows:
        print(f"{name:28s} {text}".rstrip())
    return 0


def _plan(args, **paths):
    from harness.launch import init_cpu_process_group
    from harness.plan import make_plan

    init_cpu_process_group(args.launcher)
    return make_plan(args.protocol, args.method, args.backbone, args.seed, args.sets,
                     work_dir=args.work_dir, data_root=args.data_root,
                     launcher=args.launcher, **paths)


def cmd_run(args) -> int:
    plan = _plan(args, results_dir=args.results_dir, resume=args.resume,
                 quiet=args.quiet or args.dump_config)
    if args.dump_config:
        from mmengine.config import Config

        from harness.config import compile_config

        print(Config(compile_config(plan).to_dict()).pretty_text)  # yapf-formatted to read
        return 0
    from harness.run import execute
    from harness.summary import print_summary

    record, path = execute(plan)
    if path is not None and not args.quiet:
        print_summary(record, path, _console())
    return 0


def cmd_eval(args) -> int:
    from harness.checkpoint_eval import evaluate_checkpoint
    from harness.summary import declared, print_metrics

    plan = _plan(args)
    if args.predictions is not None:
        from harness.external import cmd_score_predictions

        return cmd_score_predictions(args, plan, _console(), _console(stderr=True))
    if args.export_predictions is not None:
        from harness.predictions import export_predictions

        export_predictions(plan, args.checkpoint, args.export_predictions, args.export_format)
    reports = {domain: declared(metrics, plan.protocol.report_subsets)
               for domain, metrics in evaluate_checkpoint(plan, args.checkpoint).items()}
    from mmengine.dist import get_rank

    if get_rank() == 0:
        print_metrics(plan.protocol, reports, _console())
        if args.out:
            import json

            from harness.utils import atomic_write

            atomic_write(args.out, json.dumps(reports, indent=1) + "\n")
    return 0


def cmd_data(args) -> int:
    if args.data_verb == "fixtures":
        from harness.data.fixtures import write_fixtures

        print(write_fixtures(args.dataset, args.out))
        return 0
    if args.data_verb == "prepare":
        from harness.data.prepare import prepare

        done = prepare(args.dataset, args.data_root, _console(stderr=True))
        print(f"{args.dataset}: wrote {done.written} file(s), kept {done.skipped} already there")
        return 0
    from harness import paths
    from harness.plan import split_overrides

    if args.data_verb == "fetch":
        from harness.data.fetch import fetch_protocol

        fetched = fetch_protocol(args.protocol, paths.data_root(args.data_root))
        for path in fetched:
            print(path)
        if not fetched:
            print(f"{args.protocol}: nothing to fetch: its datasets ship inside pip packages "
                  "or are read from --data-root as distributed (see harness data check)")
        return 0
    from harness.data.check_protocol import check_protocol_data

    sets, _, _ = split_overrides(args.sets)
    return check_protocol_data(args.protocol, args.data_root, _console(), sets)


def cmd_leaderboard(args) -> int:
    from harness.leaderboard import build_all

    return build_all(args.runs, args.out, check=args.check, console=_console())


def cmd_drift(args) -> int:
    from harness.drift import run_drift

    return run_drift(args.baseline, _console())


COMMANDS = {"run": cmd_run, "eval": cmd_eval, "list": cmd_list, "data": cmd_data,
            "leaderboard": cmd_leaderboard, "drift": cmd_drift, "sweep": cmd_sweep,
            "compare": cmd_compare}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv or ["run"])
    if args.verb is None:
        parser.print_help()
        return 0
    try:
        return COMMANDS[args.verb](args)
    except KeyboardInterrupt:
        _console(stderr=True).print("[red]interrupted[/]: no result record was written; "
                                    "continue with --resume")
        return 130
    except HarnessError as exc:  # input the user can fix: one clear line, no traceback
        if os.environ.get("HARNESS_DEBUG"):
            raise
        # soft_wrap: a path in the message is never broken across lines (copy, grep)
        _console(stderr=True).print(f"error: {exc}", style="bold red", markup=False,
                                    soft_wrap=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
