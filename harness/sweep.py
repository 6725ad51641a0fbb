"""``harness sweep``: many runs from one sweep file or grid of flags, locally or on Slurm.

    harness sweep FILE|flags    expand, skip finished jobs, submit the rest (local: and wait)
    harness sweep status DIR    done/running/pending/failed per protocol x method
    harness sweep collect DIR   copy finished records into results/runs, rebuild leaderboards

CLI wiring: ``add_sweep_parser(verbs)`` in ``harness.cli.build_parser`` and
``"sweep": cmd_sweep`` in ``harness.cli.COMMANDS``.
"""

import datetime
from collections import Counter
from pathlib import Path

from harness import PROJECT_ROOT

# The rest is imported where used: `harness --help` imports this module and must stay fast.

DEFAULT_SWEEPS = Path("work_dirs") / "sweeps"
#: ``--flag`` -> key of the sweep file's ``[slurm]`` table.
SLURM_FLAGS = {"partition": "partition", "time": "time", "gpus": "gpus", "cpus": "cpus",
               "mem": "mem", "array_parallelism": "array_parallelism", "account": "account",
               "qos": "qos"}


def add_sweep_parser(verbs) -> None:
    p = verbs.add_parser(
        "sweep", help="run many runs from a sweep file or flags, locally or on Slurm",
        usage="harness sweep [FILE] [grid flags] [--executor local|slurm] [options]\n"
              "       harness sweep status SWEEP_DIR\n"
              "       harness sweep collect SWEEP_DIR [--into DIR]",
        description="Each job is one `harness run`, named by its run key: finished jobs are "
                    "skipped, interrupted ones resume, failed ones are reported and the others "
                    "go on. Jobs that start from a cached source model run after the job that "
                    "trains it.",
    )
    p.add_argument("target", nargs="?", metavar="FILE|status|collect",
                   help="a sweep file (TOML, see sweeps/), or status / collect")
    p.add_argument("sweep_dir", nargs="?", type=Path, metavar="SWEEP_DIR",
                   help="for status and collect: the sweep's directory")
    grid = p.add_argument_group("grid, instead of a sweep file")
    grid.add_argument("--protocols", nargs="+", metavar="P")
    grid.add_argument("--methods", nargs="+", metavar="M", help="default: the protocol's")
    grid.add_argument("--backbones", nargs="+", metavar="B", help="default: the protocol's")
    grid.add_argument("--seeds", nargs="+", type=int, metavar="S", help="default: 0")
    grid.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                      help="as for harness run; a key given several times is swept over")
    run = p.add_argument_group("execution")
    run.add_argument("--dir", type=Path,
                     help=f"the sweep's directory (default: {DEFAULT_SWEEPS}/<file name>)")
    run.add_argument("--executor", choices=["local", "slurm"],
                     help="default: the sweep file's, else local")
    run.add_argument("--parallel", type=int, help="local: runs at a time (default 1)")
    run.add_argument("--data-root", type=Path, help="passed to every harness run")
    run.add_argument("--wait", action="store_true",
                     help="slurm: wait for the jobs and report failures (local always waits)")
    run.add_argument("--dry-run", action="store_true", help="list the jobs, submit nothing")
    slurm = p.add_argument_group("slurm, or a [slurm] table in the sweep file")
    slurm.add_argument("--partition")
    slurm.add_argument("--time", type=int, metavar="MIN", help="minutes per job (default 60)")
    slurm.add_argument("--gpus", type=int, help="GPUs per job (default 0); above 1 the run "
                                                "is one srun task per GPU (--launcher slurm)")
    slurm.add_argument("--cpus", type=int, help="CPUs per task")
    slurm.add_argument("--mem", type=int, metavar="GB", help="memory per job")
    slurm.add_argument("--array-parallelism", type=int, help="array tasks at a time (64)")
    slurm.add_argument("--account")
    slurm.add_argument("--qos")
    collect = p.add_argument_group("collect")
    collect.add_argument("--into", type=Path, default=PROJECT_ROOT / "results" / "runs",
                         help="where finished records go (default: results/runs)")
    collect.add_argument("--leaderboards", type=Path, default=PROJECT_ROOT / "leaderboards",
                         help="the leaderboards rebuilt from --into (default: leaderboards/)")


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def cmd_sweep(args) -> int:
    from harness.sweep_expand import SweepError

    if args.target in ("status", "collect"):
        if args.sweep_dir is None:
            raise SweepError(f"harness sweep {args.target} needs the sweep's directory: "
                             f"harness sweep {args.target} SWEEP_DIR")
        return (show_status if args.target == "status" else collect)(args)
    if args.sweep_dir is not None:
        raise SweepError(f"unexpected argument {str(args.sweep_dir)!r}: give one sweep file; "
                         "the directory goes to --dir")
    return submit(args)


def _sweep_config(args) -> tuple:
    """The sweep file or the grid flags, with the executor flags applied over the file's."""
    from pydantic import ValidationError

    from harness.sweep_expand import SweepError, SweepFile, flags_grid, load_sweep_file

    flags = bool(args.protocols or args.methods or args.backbones or args.seeds or args.sets)
    if args.target and flags:
        raise SweepError(f"{args.target}: give a sweep file or grid flags (--protocols, "
                         "--methods, --backbones, --seeds, --set), not both")
    if args.target:
        cfg = load_sweep_file(Path(args.target))
        where = [f"{args.target}, grid {i + 1}" for i in range(len(cfg.grid))]
        name = Path(args.target).stem
    elif args.protocols:
        cfg = SweepFile(grid=[flags_grid(args.protocols, args.methods, args.backbones,
                                         args.seeds, args.sets)])
        where, name = ["flags"], "sweep"
    else:
        raise SweepError("nothing to sweep: give a sweep file (see sweeps/) or --protocols")
    slurm = {key: getattr(args, flag) for flag, key in SLURM_FLAGS.items()
             if getattr(args, flag) is not None}
    try:
        cfg = SweepFile.model_validate({
            **cfg.model_dump(),
            **{k: v for k, v in (("executor", args.executor), ("parallel", args.parallel))
               if v is not None},
            "slurm": {**cfg.slurm.model_dump(), **slurm},
        })
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SweepError(f"--{'-'.join(map(str, first['loc'][-1:]))}: {first['msg']}") from None
    return cfg, list(zip(cfg.grid, where)), name


def submit(args) -> int:
    from harness.sweep_expand import SweepError, expand_all
    from harness.sweep_jobs import SweepDir, slurm_queue
    from harness.sweep_submit import Submission, plan, run_local, submit_slurm, wait_slurm

    cfg, grids, name = _sweep_config(args)
    if cfg.executor == "local" and cfg.slurm.gpus > 1:
        raise SweepError(f"--gpus {cfg.slurm.gpus}: several GPUs per run need --executor slurm")
    jobs = expand_all(grids)  # every name and --set key is checked before anything is written
    console = _console()
    sweep = SweepDir(args.dir or DEFAULT_SWEEPS / name, create=not args.dry_run,
                     missing_ok=args.dry_run)
    done, live, to_run = plan(sweep, jobs, slurm_queue())
    console.print(f"{sweep.root}: {len(jobs)} jobs; {len(done)} done and {len(live)} queued "
                  f"or running (skipped), {len(to_run)} to run on {cfg.executor}",
                  markup=False)
    if args.dry_run:
        for job in to_run:
            console.print(f"  {job.name}" + (f"  (after {job.needs})" if job.needs else ""),
                          markup=False)
        return 0
    sub = Submission(cfg.executor, cfg.parallel, cfg.slurm, args.data_root)
    if cfg.executor == "local":
        ended = run_local(sweep, to_run, sub, lambda s: _report(console, s))
    else:
        ids = submit_slurm(sweep, to_run, sub, {s.job.name: s.job_id for s in live})
        if to_run:
            console.print(f"submitted Slurm jobs {', '.join(ids[j.name] for j in to_run)}; "
                          f"follow with `harness sweep status {sweep.root}`", markup=False)
        if not args.wait:
            return 0
        ended = wait_slurm(sweep, to_run + [s.job for s in live], lambda s: _report(console, s))
    failed = [s for s in ended if s.state == "failed"]
    console.print(f"{len(ended) - len(failed)} done, {len(failed)} failed", markup=False)
    return 1 if failed else 0


def _report(console, status) -> None:
    if status.state == "done":
        console.print(f"[green]done[/]   {status.job.name} ({_duration(status.elapsed)})")
    else:
        console.print(f"[red]failed[/] {status.job.name}: {status.error} (log: {status.log})")


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else str(datetime.timedelta(seconds=round(seconds)))


def show_status(args) -> int:
    from rich.table import Table

    from harness.sweep_jobs import SweepDir, job_status, slurm_queue

    sweep = SweepDir(args.sweep_dir)
    queue = slurm_queue()
    statuses = [job_status(sweep, j, queue) for j in sweep.jobs()]
    groups: dict[tuple[str, str], list] = {}
    for s in statuses:
        groups.setdefault((s.job.protocol, s.job.method), []).append(s)
    table = Table(title=str(sweep.root))
    for column in ("protocol", "method"):
        table.add_column(column, no_wrap=True,
                         min_width=max((len(s.job.protocol if column == "protocol" else
                                             s.job.method) for s in statuses), default=8))
    for column in ("done", "running", "pending", "failed", "elapsed"):
        table.add_column(column, justify="right")
    for (protocol, method), group in sorted(groups.items()):
        counts = Counter(s.state for s in group)
        times = [s.elapsed for s in group if s.elapsed is not None]
        table.add_row(protocol, method, *(str(counts[k]) for k in ("done", "running",
                                                                    "pending", "failed")),
                      _duration(sum(times) if times else None))
    console = _console()
    if not console.is_terminal:  # logs and pipes: the whole table, not rich's 80 columns
        console.width = 160
    console.print(table)
    for s in statuses:
        if s.state == "failed":
            _report(console, s)
    return 0


def collect(args) -> int:
    """Copy every finished job's record (validated) into --into; rebuild the leaderboards."""
    from harness.leaderboard import build_all
    from harness.per_sample import SamplesError
    from harness.record_samples import copy_run
    from harness.results import RecordError
    from harness.sweep_jobs import SweepDir

    sweep = SweepDir(args.sweep_dir)
    console = _console()
    copied = present = bad = 0
    for job in sweep.jobs():
        for path in sorted((sweep.job_dir(job.name) / "records").glob("*/*.json")):
            try:
                new = copy_run(path, args.into)
            except (RecordError, SamplesError) as exc:
                console.print(f"skipped: {exc}", style="yellow", markup=False)
                bad += 1
                continue
            copied, present = copied + new, present + (not new)
    console.print(f"{copied} records copied into {args.into} ({present} already there, "
                  f"{bad} invalid)", markup=False)
    built = build_all(args.into, args.leaderboards, check=False, console=console)
    return 1 if bad else built
