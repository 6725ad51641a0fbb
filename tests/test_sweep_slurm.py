"""harness sweep on a real Slurm (scripts/slurm_local.sh start): two digits jobs, one of them
st starting from the source_only job's model, killed mid-run, resumed, collected, compared
with the same sweep run locally, and re-submitted (nothing runs twice)."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.per_sample import samples_path
from harness.results import load_record

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.slow,  # minutes of Slurm jobs: run apart by .ci/run
    pytest.mark.skipif(shutil.which("sbatch") is None,
                       reason="no sbatch: apt-get install -y slurm-wlm munge && "
                              "scripts/slurm_local.sh start"),
]

P = "digits_mnist_optdigits"
#: Seconds of training: checkpoints every 4 iterations give the kill a point to resume from.
SETS = ["train.iters=12", "train.checkpoint_interval=4", "train.log_interval=4",
        "train.batch=32", "eval.points=2"]
GRID = ["--protocols", P, "--methods", "source_only", "st",
        *[x for s in SETS for x in ("--set", s)]]


@pytest.fixture(scope="module")
def partition() -> str:
    out = subprocess.run(["sinfo", "--noheader", "--format=%P"], capture_output=True,
                         text=True, check=False)
    if out.returncode:
        pytest.skip(f"Slurm is not running ({out.stderr.strip()}): scripts/slurm_local.sh start")
    names = out.stdout.split()
    return next((n.rstrip("*") for n in names if n.endswith("*")), names[0])


@pytest.fixture
def _cancel_leftovers(tmp_path):
    """A failing test leaves no job of its own behind in the queue."""
    yield
    ids = [json.loads(p.read_text())["job_id"] for p in tmp_path.glob("*/jobs/*/submitted.json")]
    subprocess.run(["scancel", *ids], check=False)


def _queued(ids: set[str]) -> set[str]:
    out = subprocess.run(["squeue", "--noheader", "--array", "--format=%i"],
                         capture_output=True, text=True, check=True).stdout
    return ids & set(out.split())


def _wait_until(check, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _records(sweep: Path) -> dict[str, dict]:
    found = {}
    for path in sweep.glob("jobs/*/records/*/*.json"):
        record = load_record(path)
        found[record.method.name] = record
    return found


def test_a_slurm_sweep_resumes_a_killed_job_matches_local_runs_and_skips_when_done(
        tmp_path, monkeypatch, capsys, partition, _cancel_leftovers):
    # The reference: the same sweep on this machine, meanwhile, with its own source-model cache.
    local = subprocess.Popen(
        [sys.executable, "-m", "harness", "sweep", *GRID, "--dir", "local"],
        cwd=tmp_path, env={**os.environ, "HARNESS_CACHE": str(tmp_path / "cache_local")},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache_slurm"))  # sbatch passes it on

    # A partition that does not exist: sbatch's own words, nothing submitted.
    assert main(["sweep", *GRID, "--executor", "slurm", "--partition", "nope",
                 "--dir", "bad"]) == 2
    assert "Invalid partition name specified" in capsys.readouterr().err

    slurm = ["sweep", *GRID, "--executor", "slurm", "--partition", partition, "--time", "10",
             "--dir", "slurm"]
    assert main(slurm) == 0
    jobs = {p.name.split("-")[1]: p for p in Path("slurm/jobs").iterdir()}
    ids = {m: json.loads((d / "submitted.json").read_text())["job_id"] for m, d in jobs.items()}

    # Kill the st job (it started after source_only ended) once it has a checkpoint.
    # Generous: a shared machine can be several times slower than an idle one.
    _wait_until(lambda: (jobs["st"] / "work" / "iter_4.pth").is_file(), 600,
                "st's first checkpoint")
    subprocess.run(["scancel", ids["st"]], check=True)
    _wait_until(lambda: not _queued(set(ids.values())), 60, "the jobs to leave the queue")
    assert set(_records(Path("slurm"))) == {"source_only"}
    assert main(["sweep", "status", "slurm"]) == 0
    assert "killed by SIGTERM" in capsys.readouterr().out

    # Re-submitted: source_only is skipped, st resumes from its checkpoint.
    assert main([*slurm, "--wait"]) == 0
    assert "1 done and 0 queued or running (skipped), 1 to run" in capsys.readouterr().out
    assert "resuming from" in (jobs["st"] / "run.log").read_text()
    swept = _records(Path("slurm"))
    assert swept["st"].method.source_model.run_id == swept["source_only"].run_id
    assert len(list((tmp_path / "cache_slurm").glob("*/*/model_final.pth"))) == 1

    # The same runs launched locally: the same metrics. The run ids differ, as they should:
    # a record holds its creation time and wall time, so only the metrics can match.
    output, _ = local.communicate(timeout=600)
    assert local.returncode == 0, output
    reference = _records(tmp_path / "local")
    for method in ("source_only", "st"):
        assert swept[method].metrics == reference[method].metrics, method

    # Collected: validated copies, leaderboards rebuilt from them.
    assert main(["sweep", "collect", "slurm", "--into", "runs", "--leaderboards", "boards"]) == 0
    collected = sorted(Path("runs").glob(f"{P}/*.json"))
    assert sorted(p.name for p in collected) == sorted(f"{r.run_id}.json"
                                                       for r in swept.values())
    # With their per-image counts, which significance tests read.
    assert all(samples_path(p).is_file() for p in collected)
    assert (Path("boards") / f"{P}.md").is_file()

    # Re-submitted once more: both are done, nothing is submitted.
    submitted = {d: (d / "submitted.json").read_text() for d in jobs.values()}
    assert main(slurm) == 0
    assert "2 done and 0 queued or running (skipped), 0 to run" in capsys.readouterr().out
    assert {d: (d / "submitted.json").read_text() for d in jobs.values()} == submitted
