"""A record and its per-image side file, written and read together (see harness.per_sample).

Apart from :mod:`harness.per_sample` because records import the evaluation package,
whose metric builds the per-image counts.
"""

from pathlib import Path

from harness.per_sample import (
    PerImage,
    SamplesError,
    encode_samples,
    read_samples,
    samples_path,
    write_samples,
)
from harness.pictures import picture_file, picture_problems
from harness.results import RunRecord, load_record, write_record
from harness.utils import atomic_write


def encode_for_record(samples: PerImage | None) -> tuple[bytes | None, dict | None]:
    """The side file's bytes and the record's ``samples`` field (None, None: no counts,
    as on the ranks other than 0, which write no record)."""
    if samples is None:
        return None, None
    blob, sha256 = encode_samples(samples)
    return blob, {"target": sha256}


def write_run(record: RunRecord, directory: Path, blob: bytes | None) -> Path:
    """The record, then its side file beside it (named by the record's id)."""
    path = write_record(record, directory)
    if blob is not None:
        write_samples(path, blob)
    return path


def load_run_samples(record: RunRecord, runs_dir: Path) -> PerImage:
    """The per-image target counts of ``record``, stored under ``runs_dir`` as written by
    :func:`write_run` (``<runs_dir>/<protocol>/<run_id>.samples.npz``)."""
    path = samples_path(Path(runs_dir) / record.protocol.name / f"{record.run_id}.json")
    if record.samples is None:
        raise SamplesError(
            f"{path.with_name(record.run_id + '.json')}: the run of {record.method.name} seed "
            f"{record.seed} has no per-image counts (recorded before they were kept); re-run "
            "it to compare it")
    return read_samples(path, record.samples.target)


def copy_run(path: Path, into: Path) -> bool:
    """Copy the record at ``path`` with its side files (per-image counts, pictures) into
    ``<into>/<protocol>/``, each checked against the record first; the record is written
    last, so a copy interrupted midway leaves no record without its files.

    Returns whether it was copied (False: the same id was already there, which, ids
    being content hashes, is the same record). Raises ``RecordError`` or
    ``SamplesError`` naming the file when the record or a side file is invalid or missing.
    """
    path = Path(path)
    record = load_record(path)
    target = Path(into) / record.protocol.name / path.name
    if target.is_file():
        return False
    side = []
    if record.samples is not None:
        read_samples(samples_path(path), record.samples.target)  # present and its hash holds
        side.append(samples_path(path))
    problems = picture_problems([record], path.parent.parent)
    if problems:
        raise SamplesError(problems[0])
    side += [picture_file(path, name) for name in record.pictures]
    for file in side:
        atomic_write(target.with_name(file.name), file.read_bytes())
    atomic_write(target, path.read_bytes())
    return True
