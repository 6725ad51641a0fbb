"""harness sweep: expansion into keyed jobs, skipping, source-model ordering and failure
reports, with submitit's local executor running stand-in commands (no training)."""

import json
import sys
import textwrap
from pathlib import Path

import pytest

from harness import __version__
from harness.cli import main
from harness.plan import make_plan
from harness.results import write_record
from harness.sweep_expand import (
    Grid,
    SweepError,
    assign_providers,
    expand_all,
    flags_grid,
    load_sweep_file,
)
from harness.sweep_jobs import SweepDir, job_status, mark_submitted, run_argv, write_job
from harness.sweep_submit import Submission, plan, run_local

P = "digits_mnist_optdigits"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))


def test_flags_expand_to_every_combination_keyed_as_harness_run_keys_it():
    grid = flags_grid([P], ["source_only", "st"], None, [0, 1],
                      ["train.iters=6", "train.iters=12", "train.lr=1e-3"])
    jobs = expand_all([(grid, "flags")])
    assert len(jobs) == 2 * 2 * 2
    for job in jobs:
        spec = make_plan(P, job.method, None, job.seed, list(job.sets))
        assert job.key == spec.key and job.backbone == "lenet"
        assert job.name == f"{P}-{job.method}-lenet-s{job.seed}-{spec.key}"
    assert {j.sets for j in jobs} == {("train.iters=6", "train.lr=0.001"),
                                      ("train.iters=12", "train.lr=0.001")}
    # Overlapping grids run each job once.
    assert len(expand_all([(grid, "a"), (grid, "b")])) == len(jobs)


def test_sweep_file_values_reach_the_run_as_typed(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(f"""
        executor = "slurm"
        [[grid]]
        protocols = ["{P}"]
        methods = ["source_only"]
        set = {{ "train.iters" = [6], "train.lr" = [0.5] }}
        [slurm]
        partition = "debug"
        gpus = 2
    """))
    cfg = load_sweep_file(path)
    assert cfg.executor == "slurm" and cfg.slurm.gpus == 2 and cfg.slurm.partition == "debug"
    (job,) = expand_all([(cfg.grid[0], str(path))])
    spec = make_plan(P, "source_only", None, 0, list(job.sets))
    assert spec.protocol.train.iters == 6 and spec.protocol.train.lr == 0.5


def test_source_model_jobs_wait_for_the_one_job_that_trains_it():
    jobs = expand_all([(Grid(protocols=[P], methods=["st", "source_only", "cbst", "oracle"],
                             seeds=[0, 1]), "g")])
    by = {(j.method, j.seed): j for j in assign_providers(jobs, [])}
    spec = make_plan(P, "st", None, 0, [])
    assert by["st", 0].source_model == str(spec.source_cache.absolute())
    for seed in (0, 1):
        trainer = by["source_only", seed].name
        assert by["st", seed].needs == trainer and by["cbst", seed].needs == trainer
        assert by["oracle", seed].needs is None and by["source_only", seed].needs is None
    # Without a source_only job, the first job that needs the model trains it.
    alone = assign_providers(expand_all([(Grid(protocols=[P], methods=["st", "cbst"]), "g")]),
                             [])
    assert [j.method for j in alone] == ["st", "cbst"]
    assert alone[0].needs is None and alone[1].needs == alone[0].name
    # A cached source model: nobody waits.
    path = Path(alone[0].source_model)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights")
    assert all(j.needs is None for j in assign_providers(alone, []))


@pytest.mark.parametrize("grid, expected", [
    ('protocols = ["digits_mnist_optdigit"]', "Did you mean 'digits_mnist_optdigits'"),
    (f'protocols = ["{P}"]\nmethods = ["sorce_only"]', "Did you mean 'source_only'"),
    (f'protocols = ["{P}"]\nbackbones = ["lenett"]', "Did you mean 'lenet'"),
])
def test_unknown_names_in_a_sweep_file_name_the_file_and_the_closest_names(
        tmp_path, grid, expected):
    path = tmp_path / "bad.toml"
    path.write_text(f"[[grid]]\n{grid}\n")
    assert main([*"sweep --dir out".split(), str(path)]) == 2
    with pytest.raises(SweepError, match=f"bad.toml, grid 1: unknown .*{expected}"):
        expand_all([(load_sweep_file(path).grid[0], f"{path}, grid 1")])
    assert not (tmp_path / "out").exists()  # nothing written, nothing submitted


def test_a_grid_key_harness_run_rejects_fails_with_its_error_before_submission(tmp_path):
    with pytest.raises(ValueError) as direct:
        make_plan(P, None, None, 0, ["train.itres=3"])
    grid = flags_grid([P], None, None, None, ["train.itres=3"])
    with pytest.raises(SweepError) as swept:
        expand_all([(grid, "flags")])
    assert str(swept.value) == f"flags: {direct.value}"
    assert main(["sweep", "--protocols", P, "--set", "train.itres=3", "--dir", "out"]) == 2
    assert not Path("out").exists()


def test_a_sweep_dir_of_another_version_is_refused_naming_both(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "sweep.json").write_text('{"harness_version": "0.0.1"}')
    with pytest.raises(SweepError, match=rf"harness 0\.0\.1.*harness {__version__}"):
        SweepDir(tmp_path / "old")
    assert json.loads((SweepDir(tmp_path / "new", create=True).root / "sweep.json")
                      .read_text()) == {"harness_version": __version__}


FAKE_RUN = """
import shutil, sys, time
from pathlib import Path
job_dir, provides, fail, record, order = sys.argv[1:6]
name = Path(job_dir).name
with open(order, "a") as fh:
    fh.write(f"start {name} {time.time()}\\n")
time.sleep(0.3)
if fail == "1":
    print("Traceback (most recent call last):\\nerror: boom")
    sys.exit(1)
if provides:
    Path(provides).parent.mkdir(parents=True, exist_ok=True)
    Path(provides).write_bytes(b"weights")
dst = Path(job_dir) / "records" / "p" / Path(record).name
dst.parent.mkdir(parents=True, exist_ok=True)
shutil.copy(record, dst)
with open(order, "a") as fh:
    fh.write(f"end {name} {time.time()}\\n")
"""


def test_local_executor_orders_skips_and_reports_failures(tmp_path, make_record):
    """Stand-in runs through submitit's LocalExecutor: the trainer of a source model ends
    before its users start, a failed job is reported with its log and error line while the
    others go on, users of a failed trainer fail naming it, and finished jobs are skipped."""
    fake = tmp_path / "fake_run.py"
    fake.write_text(FAKE_RUN)
    record = write_record(make_record(), tmp_path / "made")
    order = tmp_path / "order.log"
    failing = {("oracle", 0), ("source_only", 1)}

    def argv(job, job_dir, data_root, launcher):
        assert run_argv(job, job_dir, data_root, launcher)[-2:] == ["--resume", "--quiet"]
        return [sys.executable, str(fake), str(job_dir), job.provides or "",
                str(int((job.method, job.seed) in failing)), str(record), str(order)]

    jobs = expand_all([(Grid(protocols=[P], methods=["st", "cbst", "source_only", "oracle"]),
                        "g1"), (Grid(protocols=[P], methods=["st", "source_only"], seeds=[1]),
                                "g2")])
    sweep = SweepDir(tmp_path / "sweep", create=True)
    done, live, to_run = plan(sweep, jobs, {})
    assert not done and not live and len(to_run) == 6
    # A job that had a checkpoint says it resumes (the argv always carries --resume).
    interrupted = next(j for j in to_run if (j.method, j.seed) == ("source_only", 0))
    (sweep.job_dir(interrupted.name) / "work").mkdir(parents=True)
    (sweep.job_dir(interrupted.name) / "work" / "last_checkpoint").write_text("/w/iter_4.pth")
    reported = []
    ended = run_local(sweep, to_run, Submission("local", parallel=3, argv=argv),
                      reported.append, poll_s=0.1)
    assert sorted(s.job.name for s in reported) == sorted(j.name for j in jobs)
    state = {(s.job.method, s.job.seed): s for s in ended}
    assert {k for k, s in state.items() if s.state == "failed"} == {
        ("oracle", 0), ("source_only", 1), ("st", 1)}
    assert state["oracle", 0].error == "error: boom"
    assert state["oracle", 0].log == sweep.job_dir(state["oracle", 0].job.name) / "run.log"
    trainer = state["source_only", 1].job.name
    assert f"job {trainer} did not train it" in state["st", 1].error
    assert "resuming from /w/iter_4.pth" in (sweep.job_dir(interrupted.name) / "run.log"
                                            ).read_text()

    times = {}
    for line in order.read_text().splitlines():
        event, name, t = line.split()
        times[event, name] = float(t)
    source0 = state["source_only", 0].job.name
    for method in ("st", "cbst"):
        assert times["start", state[method, 0].job.name] > times["end", source0]
    assert ("start", state["st", 1].job.name) not in times  # never ran: its trainer failed

    # Re-submitted: the finished jobs are skipped, the failed ones run again.
    done, live, to_run = plan(sweep, jobs, {})
    assert {(s.job.method, s.job.seed) for s in done} == {
        ("source_only", 0), ("st", 0), ("cbst", 0)}
    assert {(j.method, j.seed) for j in to_run} == set(failing) | {("st", 1)}
    assert main(["sweep", "status", str(sweep.root)]) == 0


def test_a_job_whose_process_is_gone_without_ending_is_reported_interrupted(tmp_path):
    (job,) = expand_all([(Grid(protocols=[P], methods=["source_only"]), "g")])
    sweep = SweepDir(tmp_path / "sweep", create=True)
    job_dir = sweep.job_dir(job.name)
    write_job(job_dir, job, [], "none")
    assert job_status(sweep, job, {}).state == "pending"
    mark_submitted(job_dir, "slurm", "77_1", tmp_path / "x.err")
    assert job_status(sweep, job, {"77_1": "PENDING"}).state == "pending"
    (job_dir / "attempt.json").write_text(json.dumps({"started": 1.0}))
    assert job_status(sweep, job, {"77_1": "RUNNING"}).state == "running"
    # Preempted and requeued: pending again until it restarts.
    assert job_status(sweep, job, {"77_1": "PENDING"}).state == "pending"
    status = job_status(sweep, job, {})  # left the queue without ending: killed
    assert status.state == "failed" and "interrupted" in status.error


def test_a_record_this_harness_cannot_read_is_named_not_called_missing(tmp_path, make_record):
    """A job run by a newer checkout writes fields an older waiter does not know."""
    (job,) = expand_all([(Grid(protocols=[P], methods=["source_only"]), "g")])
    sweep = SweepDir(tmp_path / "sweep", create=True)
    job_dir = sweep.job_dir(job.name)
    write_job(job_dir, job, [], "none")
    path = write_record(make_record(), job_dir / "records")
    data = json.loads(path.read_text())
    data["train"]["peak_future_mib"] = 1.0
    path.write_text(json.dumps(data))
    (job_dir / "attempt.json").write_text(json.dumps({"started": 1.0, "ended": 2.0,
                                                      "error": None}))
    status = job_status(sweep, job, {})
    assert status.state == "failed"
    assert "cannot read" in status.error and "peak_future_mib" in status.error
    path.unlink()
    assert job_status(sweep, job, {}).error == "exited without a record"


def test_the_reference_sweep_file_makes_exactly_the_committed_leaderboard_rows():
    """`sweeps/digits_reference.toml` reproduces every committed row of its protocols, and
    each of its jobs has its committed record: one command remakes the digits leaderboards."""
    from harness import PROJECT_ROOT
    from harness.leaderboard.aggregate import split_runs
    from harness.protocol import load_protocol
    from harness.results import load_records

    sweep = load_sweep_file(PROJECT_ROOT / "sweeps" / "digits_reference.toml")
    jobs = expand_all([(g, f"grid {i}") for i, g in enumerate(sweep.grid)])
    assert not any(job.sets for job in jobs)  # every protocol as written
    planned = {(j.protocol, j.method, j.backbone, j.seed) for j in jobs}
    records, problems = load_records(PROJECT_ROOT / "results" / "runs")
    assert not problems
    committed = set()
    for name in {j.protocol for j in jobs}:
        rows, _ = split_runs(load_protocol(name), records)
        committed |= {(r.protocol.name, r.method.name, r.backbone.name, r.seed) for r in rows}
    assert sorted(planned - committed) == []  # a job without its committed record
    assert sorted(committed - planned) == []  # a row the sweep file would not remake
