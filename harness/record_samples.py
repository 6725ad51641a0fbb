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
from harness.results import RunRecord, write_record


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
