"""Where a run writes (work dir, results dir, source-model cache): checked writable before
training starts, and locked while a run uses them.

Locks are ``filelock`` file locks (advisory, released by the OS when a process dies).
"""

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout
from mmengine.logging import print_log

from harness.errors import HarnessError

#: Lock file in a work dir held by the run training into it.
WORK_DIR_LOCK = "run.lock"


class OutputError(HarnessError, OSError):
    """An output location that cannot be written, or that another run is using."""


def check_writable(locations: dict[str, Path]) -> None:
    """Create each folder and a file in it now, so a bad location fails before training.

    ``locations``: what the user calls it (``--results-dir``) -> the folder.
    """
    for name, folder in locations.items():
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise OutputError(f"{name} {folder}: not a writable folder ({exc.strerror or exc}); "
                              f"pass a writable folder") from None


def _is_main_process() -> bool:
    # Before mmengine initialises distributed training: the launchers' environment.
    return int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", 0))) == 0


@contextlib.contextmanager
def work_dir_lock(work_dir: Path) -> Iterator[None]:
    """Held while a run trains into ``work_dir``: a second run there fails at once."""
    if not _is_main_process():  # the ranks of one run share its work dir
        yield
        return
    work_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(work_dir / WORK_DIR_LOCK)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise OutputError(
            f"work dir {work_dir} is in use by another run (lock {lock.lock_file}); wait for "
            "it to end, or pass another --work-dir"
        ) from None
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def cache_entry_lock(entry: Path) -> Iterator[None]:
    """Held while a source-model cache entry is checked and filled: a second run started
    at the same time waits, then finds the entry filled and reuses it."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(entry.with_name(entry.name + ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print_log(f"waiting for another run to fill the source-model cache entry {entry}",
                  logger="current", level=logging.WARNING)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
