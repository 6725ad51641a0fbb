"""Executors: submitit's local executor (N runs at a time on this machine) and Slurm.

A job that starts from a cached source model runs after the job that trains it: on Slurm
through a job dependency, locally by starting it only once that job has ended.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import submitit

from harness.sweep_expand import Job, SlurmOptions, SweepError, assign_providers
from harness.sweep_jobs import (
    JobStatus,
    RunJob,
    SweepDir,
    job_from_dir,
    job_status,
    mark_submitted,
    run_argv,
    slurm_queue,
    write_job,
)

#: Local runs have no time limit (submitit's local default is 2 minutes): a year.
LOCAL_TIMEOUT_MIN = 60 * 24 * 365

ArgvBuilder = Callable[[Job, Path, Path | None, str], list[str]]


@dataclass(frozen=True)
class Submission:
    executor: str                 # "local" or "slurm"
    parallel: int = 1             # local: runs at a time
    slurm: SlurmOptions = SlurmOptions()
    data_root: Path | None = None
    argv: ArgvBuilder = run_argv  # how a job becomes a command (tests give a stand-in)

    @property
    def launcher(self) -> str:
        # Several GPUs: submitit starts one srun task per GPU, each `harness run --launcher
        # slurm`, and mmengine joins them into one process group.
        return "slurm" if self.executor == "slurm" and self.slurm.gpus > 1 else "none"


def plan(sweep: SweepDir, jobs: list[Job], queue: dict[str, str]
         ) -> tuple[list[JobStatus], list[JobStatus], list[Job]]:
    """(done, queued or running, to run): finished jobs and live ones are skipped; the rest
    run, each after the job that trains its source model."""
    statuses = [job_status(sweep, j, queue) for j in jobs]
    done = [s for s in statuses if s.state == "done"]
    live = [s for s in statuses if s.state in ("running", "pending") and s.job_id]
    skip = {s.job.name for s in done + live}
    to_run = assign_providers([j for j in jobs if j.name not in skip], [s.job for s in live])
    return done, live, to_run


def _prepare(sweep: SweepDir, jobs: list[Job], sub: Submission) -> None:
    for job in jobs:
        job_dir = sweep.job_dir(job.name)
        write_job(job_dir, job, sub.argv(job, job_dir, sub.data_root, sub.launcher), sub.launcher)


def slurm_executor(sweep: SweepDir, options: SlurmOptions, name: str) -> submitit.AutoExecutor:
    executor = submitit.AutoExecutor(folder=sweep.submitit_dir, cluster="slurm")
    params = {
        "name": name,
        "timeout_min": options.time,
        "slurm_partition": options.partition,
        "cpus_per_task": options.cpus,
        "mem_gb": options.mem,
        "gpus_per_node": options.gpus or None,
        "tasks_per_node": max(options.gpus, 1),
        "slurm_array_parallelism": options.array_parallelism,
        "slurm_account": options.account,
        "slurm_qos": options.qos,
    }
    executor.update_parameters(**{k: v for k, v in params.items() if v is not None})
    return executor


def _submit_batch(executor, sweep: SweepDir, jobs: list[Job], kind: str) -> dict[str, str]:
    if not jobs:
        return {}
    try:
        with executor.batch():
            handles = [executor.submit(RunJob(), str(sweep.job_dir(j.name))) for j in jobs]
    except submitit.core.utils.FailedJobError as exc:
        raise SweepError(f"{kind} refused the submission:\n{exc}\n"
                         "(check --partition, --account, --qos, --gpus; `sinfo` lists the "
                         "partitions)") from None
    for job, handle in zip(jobs, handles):
        mark_submitted(sweep.job_dir(job.name), kind, handle.job_id, handle.paths.stderr)
    return {j.name: h.job_id for j, h in zip(jobs, handles)}


def submit_slurm(sweep: SweepDir, jobs: list[Job], sub: Submission,
                 queued_ids: dict[str, str]) -> dict[str, str]:
    """Submit everything at once; jobs that need a source model depend on its trainer.

    ``afterany`` rather than ``afterok``: a job whose trainer failed or was cancelled then
    starts, finds no source model and fails at once naming that job, instead of pending
    forever on a dependency that can never be met.
    ``queued_ids``: Slurm ids of this sweep's jobs already in the queue (possible trainers).
    """
    _prepare(sweep, jobs, sub)
    executor = slurm_executor(sweep, sub.slurm, sweep.root.name)
    ids = dict(queued_ids)
    ids.update(_submit_batch(executor, sweep, [j for j in jobs if j.needs is None], "slurm"))
    for provider in dict.fromkeys(j.needs for j in jobs if j.needs is not None):
        executor.update_parameters(
            slurm_additional_parameters={"dependency": f"afterany:{ids[provider]}"})
        ids.update(_submit_batch(executor, sweep, [j for j in jobs if j.needs == provider],
                                 "slurm"))
    return ids


def run_local(sweep: SweepDir, jobs: list[Job], sub: Submission,
              report: Callable[[JobStatus], None], poll_s: float = 0.5) -> list[JobStatus]:
    """Run the jobs here, ``sub.parallel`` at a time, each once its source model's trainer
    has ended; returns every job's final status (a failure never stops the others)."""
    _prepare(sweep, jobs, sub)
    executor = submitit.AutoExecutor(folder=sweep.submitit_dir, cluster="local")
    executor.update_parameters(timeout_min=LOCAL_TIMEOUT_MIN)
    waiting, running, ended = list(jobs), {}, {}
    while waiting or running:
        for name, (job, handle) in list(running.items()):
            if handle.done():
                del running[name]
                ended[name] = job_status(sweep, job, {})
                report(ended[name])
        for job in list(waiting):
            if len(running) >= sub.parallel:
                break
            if job.needs is not None and _trainer_busy(sweep, job.needs, running, waiting):
                continue
            waiting.remove(job)
            handle = _submit_one(executor, sweep, job)
            running[job.name] = (job, handle)
        time.sleep(poll_s)
    return [ended[j.name] for j in jobs]


def _trainer_busy(sweep: SweepDir, name: str, running: dict, waiting: list[Job]) -> bool:
    if name in running or any(w.name == name for w in waiting):
        return True
    # Started by an earlier `harness sweep` that is still running it.
    trainer = job_from_dir(sweep.job_dir(name))
    status = job_status(sweep, trainer, {})
    return status.state in ("running", "pending") and status.job_id is not None


def _submit_one(executor, sweep: SweepDir, job: Job):
    handle = executor.submit(RunJob(), str(sweep.job_dir(job.name)))
    mark_submitted(sweep.job_dir(job.name), "local", handle.job_id, handle.paths.stderr)
    return handle


def wait_slurm(sweep: SweepDir, jobs: list[Job], report: Callable[[JobStatus], None],
               poll_s: float = 2.0) -> list[JobStatus]:
    """Poll the queue until every job has left it; report each as it ends."""
    left = {j.name: j for j in jobs}
    ended = {}
    while left:
        queue = slurm_queue()
        for name, job in list(left.items()):
            status = job_status(sweep, job, queue)
            if status.state in ("done", "failed"):
                ended[name] = status
                del left[name]
                report(status)
        if left:
            time.sleep(poll_s)
    return [ended[j.name] for j in jobs]
