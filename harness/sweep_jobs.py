"""A sweep directory and its jobs: what was submitted, what each job did, what state it is in.

    SWEEP_DIR/sweep.json               the harness version that wrote it
    SWEEP_DIR/submitit/                submitit's pickles and logs
    SWEEP_DIR/jobs/NAME/job.json       the job: run arguments, source model, the job it waits for
    SWEEP_DIR/jobs/NAME/submitted.json executor, job id, submitit log, time
    SWEEP_DIR/jobs/NAME/attempt.json   the last attempt: start, end, exit code, error line
    SWEEP_DIR/jobs/NAME/run.log        the run's output (all attempts)
    SWEEP_DIR/jobs/NAME/work/          its work dir (checkpoints: what --resume continues from)
    SWEEP_DIR/jobs/NAME/records/       its result record, once it finished

A job is done when its records/ holds a valid record, so a re-submitted sweep skips it.
The state files are written by the job itself (rank 0), so status needs no accounting
database: only the queue (squeue) or the local process tells whether a job is still alive.
"""

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import submitit

from harness import __version__
from harness.results import RecordError, RunRecord, load_record
from harness.sweep_expand import Job, SweepError
from harness.utils import atomic_write

State = Literal["done", "running", "pending", "failed"]


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def _write_json(path: Path, data: dict) -> None:
    atomic_write(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


class SweepDir:
    """A sweep's folder; one written by another harness version is refused."""

    def __init__(self, root: Path, create: bool = False, missing_ok: bool = False):
        """``create``: start one where there is none; ``missing_ok``: read-only, for a
        directory that may not exist yet (a dry run)."""
        self.root = Path(root).absolute()
        meta = _read_json(self.root / "sweep.json")
        if meta is None and missing_ok:
            return
        if meta is None and not create:
            raise SweepError(f"{self.root}: not a sweep directory (no sweep.json); "
                             "`harness sweep FILE --dir DIR` makes one")
        if meta is None:
            _write_json(self.root / "sweep.json", {"harness_version": __version__})
        elif meta.get("harness_version") != __version__:
            raise SweepError(
                f"{self.root} was written by harness {meta.get('harness_version')}, and this "
                f"is harness {__version__}: its keys and records may differ; use a new sweep "
                f"directory (--dir) or harness {meta.get('harness_version')}"
            )

    @property
    def submitit_dir(self) -> Path:
        return self.root / "submitit"

    def job_dir(self, name: str) -> Path:
        return self.root / "jobs" / name

    def jobs(self) -> list[Job]:
        return [job_from_dir(d) for d in sorted((self.root / "jobs").glob("*"))
                if (d / "job.json").is_file()]


def job_from_dir(job_dir: Path) -> Job:
    data = json.loads((job_dir / "job.json").read_text())["job"]
    return Job(**{**data, "sets": tuple(data["sets"])})


def run_argv(job: Job, job_dir: Path, data_root: Path | None, launcher: str) -> list[str]:
    """The ``harness run`` command of a job. Always ``--resume``: a job that was interrupted
    or preempted continues from its last checkpoint, and a fresh one starts from scratch."""
    argv = [sys.executable, "-m", "harness", "run", "--protocol", job.protocol_ref,
            "--method", job.method, "--backbone", job.backbone, "--seed", str(job.seed),
            *[x for s in job.sets for x in ("--set", s)],
            "--work-dir", str(job_dir / "work"), "--results-dir", str(job_dir / "records"),
            "--launcher", launcher, "--resume", "--quiet"]
    if data_root is not None:
        argv += ["--data-root", str(Path(data_root).absolute())]
    return argv


def write_job(job_dir: Path, job: Job, argv: list[str], launcher: str) -> None:
    # A stale attempt of an earlier submission would be read as this one's.
    (job_dir / "attempt.json").unlink(missing_ok=True)
    _write_json(job_dir / "job.json", {"job": dataclasses.asdict(job), "name": job.name,
                                       "argv": argv, "launcher": launcher,
                                       "cwd": str(Path.cwd())})


def mark_submitted(job_dir: Path, executor: str, job_id: str, log: Path) -> None:
    _write_json(job_dir / "submitted.json", {"executor": executor, "job_id": job_id,
                                             "submitit_log": str(log), "time": time.time()})


def record_of(job_dir: Path) -> tuple[tuple[Path, RunRecord] | None, str | None]:
    """The job's valid record if it finished (an invalid file counts as not finished), and
    else why a record it wrote cannot be read here: typically a newer harness ran the job
    (a record field this one does not know)."""
    problem = None
    for path in sorted((job_dir / "records").glob("*/*.json")):
        try:
            return (path, load_record(path)), None
        except RecordError as exc:
            problem = problem or (
                f"wrote a record this harness cannot read ({exc}); if the job ran a newer "
                "checkout, run `harness sweep status` from that checkout")
    return None, problem


def last_line(path: Path) -> str:
    """The last non-empty line of a log: ``error: ...`` or a traceback's exception."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log)"
    return next((ln.strip() for ln in reversed(lines) if ln.strip()), "(empty log)")


class RunJob(submitit.helpers.Checkpointable):
    """One job: ``harness run`` in a subprocess, its output in run.log.

    Checkpointable: when Slurm preempts the job or its time runs out, submitit requeues
    this same call, and ``--resume`` continues from the work dir's last checkpoint.
    """

    def __call__(self, job_dir: str) -> str:
        job_dir = Path(job_dir)
        spec = json.loads((job_dir / "job.json").read_text())
        job = job_from_dir(job_dir)
        rank0 = submitit.JobEnvironment().global_rank == 0
        log = job_dir / "run.log"
        attempt = {"started": time.time(), "host": os.uname().nodename}
        if rank0:
            _write_json(job_dir / "attempt.json", attempt)
        if job.needs and not Path(job.source_model).is_file():
            error = (f"error: the source model {job.source_model} is missing: job {job.needs} "
                     "did not train it (see its log); re-run the sweep after fixing it")
            with log.open("a") as fh:
                fh.write(error + "\n")
            return self._end(job_dir, attempt, 1, error, rank0)
        resume = job_dir / "work" / "last_checkpoint"  # mmengine's pointer to its checkpoint
        env = dict(os.environ)
        if spec["launcher"] == "slurm" and "SLURM_JOB_ID" in env:
            # mmengine's Slurm launcher defaults to port 29500: two jobs on a node would clash.
            env.setdefault("MASTER_PORT", str(20000 + int(env["SLURM_JOB_ID"]) % 20000))
        with log.open("a") as fh:
            fh.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} on {attempt['host']}"
                     + (f": resuming from {resume.read_text().strip()}" if resume.is_file()
                        else "") + "\n")
            fh.flush()
            rc = subprocess.call(spec["argv"], stdout=fh, stderr=subprocess.STDOUT,
                                 cwd=spec["cwd"], env=env)
        if rc < 0:
            error = (f"killed by {signal.Signals(-rc).name} (cancelled, preempted or out of "
                     "memory); re-run the sweep to resume it")
        else:
            error = last_line(log) if rc else ""
        return self._end(job_dir, attempt, rc, error, rank0)

    @staticmethod
    def _end(job_dir: Path, attempt: dict, rc: int, error: str, rank0: bool) -> str:
        if rank0:
            _write_json(job_dir / "attempt.json",
                        {**attempt, "ended": time.time(), "returncode": rc, "error": error})
        if rc:
            # Raised so that submitit and Slurm see the job as failed too.
            raise RuntimeError(f"{job_dir.name}: {error} (log: {job_dir / 'run.log'})")
        return str(job_dir)


def slurm_queue() -> dict[str, str]:
    """Slurm job id (array tasks one by one) -> state, for the jobs still in the queue.

    squeue, because submitit's watcher asks sacct, which needs Slurm's accounting database.
    """
    if shutil.which("squeue") is None:
        return {}
    out = subprocess.run(["squeue", "--noheader", "--array", "--format=%i %T"],
                         capture_output=True, text=True, check=False).stdout
    return dict(line.split() for line in out.splitlines() if line.strip())


def _queue_state(submitted: dict, queue: dict[str, str]) -> str | None:
    """PENDING, RUNNING, ... while the job lives; None once it has gone."""
    if submitted["executor"] == "slurm":
        return queue.get(submitted["job_id"])
    try:  # a local job is a child process of the machine that submitted it
        os.kill(int(submitted["job_id"]), 0)
    except (ProcessLookupError, PermissionError):
        return None
    return "RUNNING"


@dataclass(frozen=True)
class JobStatus:
    job: Job
    state: State
    elapsed: float | None = None
    error: str | None = None
    log: Path | None = None
    record: Path | None = None
    job_id: str | None = None


def job_status(sweep: SweepDir, job: Job, queue: dict[str, str]) -> JobStatus:
    job_dir = sweep.job_dir(job.name)
    found, unreadable = record_of(job_dir)
    attempt = _read_json(job_dir / "attempt.json") or {}
    elapsed = (attempt.get("ended", time.time()) - attempt["started"]) if attempt else None
    if found is not None:
        return JobStatus(job, "done", elapsed, record=found[0])
    submitted = _read_json(job_dir / "submitted.json")
    job_id = submitted["job_id"] if submitted else None
    log = job_dir / "run.log"
    if "ended" in attempt:
        error = attempt["error"] or unreadable or "exited without a record"
        return JobStatus(job, "failed", elapsed, error, log, job_id=job_id)
    if submitted is None:
        return JobStatus(job, "pending")
    live = _queue_state(submitted, queue)
    if live is not None:
        # Requeued after a preemption: pending again, with an attempt behind it.
        running = bool(attempt) and live != "PENDING"
        return JobStatus(job, "running" if running else "pending",
                         elapsed if running else None, job_id=job_id)
    if attempt:
        return JobStatus(job, "failed", elapsed, "interrupted (killed, cancelled or preempted "
                         "and not requeued); re-run the sweep to resume it", log, job_id=job_id)
    return JobStatus(job, "failed", None, "never started: " + last_line(
        Path(submitted["submitit_log"])), Path(submitted["submitit_log"]), job_id=job_id)
