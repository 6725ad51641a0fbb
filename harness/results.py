"""Result records: one JSON file per run, content-addressed, written atomically.

A record carries everything needed to trust and trace its numbers: the
protocol's content hash, code version, packages, device, seed, data
fingerprints, the selection rule and the full confusion matrices from which
every metric is derived.
"""

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.errors import HarnessError
from harness.utils import atomic_write, stable_hash

SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DomainMetrics(_Strict):
    classes: list[str]
    iou: list[float | None]
    acc: list[float | None]
    miou: float | None
    mean_acc: float | None
    pixel_acc: float | None
    fwiou: float | None
    missing: list[str]
    subsets: dict[str, dict[str, Any]]
    n: int
    confusion: list[list[int]]
    #: Other predictions of the same model, e.g. the calibrator's "uncalibrated":
    #: name -> the same metrics and confusion matrix.
    variants: dict[str, dict[str, Any]] = {}


class RunRecord(_Strict):
    schema_version: Literal[1]
    run_id: str
    created: str
    protocol: dict[str, Any]
    method: dict[str, Any]
    backbone: dict[str, Any]
    seed: int
    code: dict[str, Any]
    packages: dict[str, str]
    device: dict[str, Any]
    data: dict[str, Any]
    classes: dict[str, Any]
    selection: dict[str, Any]
    train: dict[str, Any]
    metrics: dict[Literal["target", "source"], DomainMetrics]


class RecordError(HarnessError, ValueError):
    """A result file that is not a valid record (corrupt, truncated, edited)."""


def content_id(record: dict) -> str:
    """First 16 hex digits of the sha256 of the record without its id."""
    body = {k: v for k, v in record.items() if k != "run_id"}
    return stable_hash(body, 16)


def finalize(record: dict) -> RunRecord:
    """Validate, then add the content id of exactly what will be written."""
    validated = RunRecord.model_validate({**record, "schema_version": SCHEMA_VERSION,
                                          "run_id": ""})
    return validated.model_copy(update={"run_id": content_id(validated.model_dump(mode="json"))})


def write_record(record: RunRecord, directory: Path) -> Path:
    """``<directory>/<protocol>/<run_id>.json``; distinct runs never share a file."""
    path = Path(directory) / record.protocol["name"] / f"{record.run_id}.json"
    atomic_write(path, json.dumps(record.model_dump(mode="json"), indent=1, sort_keys=True) + "\n")
    return path


def load_record(path: Path) -> RunRecord:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path}: not a readable JSON record ({exc}); delete or re-run it") from None
    try:
        record = RunRecord.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise RecordError(
            f"{path}: not a valid run record ({exc.error_count()} problem(s), first: {key}: "
            f"{first['msg']}); delete or re-run it"
        ) from None
    if record.run_id != content_id(data):
        raise RecordError(
            f"{path}: run_id {record.run_id} does not match its content ({content_id(data)}): "
            "the file was edited after the run; re-run it"
        )
    return record


def load_records(directory: Path) -> tuple[list[RunRecord], list[RecordError]]:
    """Every record under ``directory``; bad files are returned as errors, not skipped silently."""
    records, errors = [], []
    for path in sorted(Path(directory).glob("*/*.json")):
        try:
            records.append(load_record(path))
        except RecordError as exc:
            errors.append(exc)
    return records, errors
