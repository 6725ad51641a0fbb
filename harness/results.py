"""Result records: one JSON file per run, content-addressed, written atomically.

A record carries everything needed to trust and trace its numbers: the
protocol's content hash, code version, packages, device, seed, data
fingerprints, the selection rule and the full confusion matrices from which
every metric is derived.

The run id is the content hash of the record as written. Records of an older
schema are read through an explicit migration, after their id has been checked
against the content they were written with.
"""

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.errors import HarnessError
from harness.utils import atomic_write, stable_hash

SCHEMA_VERSION = 2


class _Strict(BaseModel):
    # serialize_by_alias: a record is written with the keys it is read with ("from").
    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)


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


class ProtocolIdentity(_Strict):
    name: str
    task: Literal["classification", "segmentation"]
    #: Hash of the protocol file as written: what leaderboards group runs by.
    hash: str
    #: Hash of the protocol as this run used it (method settings and overrides applied).
    effective_hash: str
    overrides: dict[str, Any]
    variant_of: str | None
    target_labels: bool


class SourceModel(_Strict):
    """The cached source-only model a method started from."""

    cache_key: str
    #: The record of the run that trained it; None for pretrained weights.
    run_id: str | None
    from_: str = Field(alias="from")


class MethodInfo(_Strict):
    name: str
    hparams: dict[str, Any]
    uses_target_labels: bool
    train_domains: list[str]
    #: None when the method trains from the backbone's initialization (and in
    #: records migrated from version 1 written before this was recorded).
    source_model: SourceModel | None
    #: Adapted without source data: no source training dataset was built (only the
    #: source model's weights); the source metrics are an evaluation after training.
    source_free: bool = False


class BackboneInfo(_Strict):
    name: str
    options: dict[str, Any]
    params: int


class CodeVersion(_Strict):
    version: str
    #: None (and ``dirty`` None) outside a git checkout.
    git_sha: str | None
    dirty: bool | None


class DeviceInfo(_Strict):
    type: str
    name: str
    world_size: int
    amp: str
    torch_threads: int


class SplitData(_Strict):
    n: int
    fingerprint: str


class ClassSet(_Strict):
    name: str
    version: str
    fingerprint: str
    subsets: list[str]


class SelectionInfo(_Strict):
    rule: str
    iter: int
    uses_target_labels: bool


class TrainInfo(_Strict):
    iters: int
    wall_time_s: float
    #: The protocol's train settings as the run's harness version wrote them; kept
    #: untyped so that records outlive changes to the protocol schema.
    config: dict[str, Any]


class RunRecord(_Strict):
    schema_version: Literal[2]
    run_id: str
    created: str
    protocol: ProtocolIdentity
    method: MethodInfo
    backbone: BackboneInfo
    seed: int
    code: CodeVersion
    packages: dict[str, str]
    device: DeviceInfo
    #: The evaluated splits; both are required (two keys of two possible).
    data: Annotated[dict[Literal["source_test", "target_test"], SplitData], Field(min_length=2)]
    classes: ClassSet
    selection: SelectionInfo
    train: TrainInfo
    metrics: dict[Literal["target", "source"], DomainMetrics]
    #: PNG pictures the method handed back (``harness.pictures``): name -> sha256 of
    #: the file written beside the record as ``<run_id>.<name>.png``.
    pictures: dict[str, str] = {}

    @field_validator("metrics")
    @classmethod
    def _both_domains(cls, metrics: dict) -> dict:
        # Every run is evaluated on both; leaderboards plot one against the other.
        missing = {"target", "source"} - set(metrics)
        if missing:
            raise ValueError(f"no metrics for {', '.join(sorted(missing))}")
        return metrics


class RecordError(HarnessError, ValueError):
    """A result file that is not a valid record (corrupt, truncated, edited)."""


def content_id(record: dict) -> str:
    """First 16 hex digits of the sha256 of the record without its id."""
    body = {k: v for k, v in record.items() if k != "run_id"}
    return stable_hash(body, 16)


def migrate_v1(data: dict) -> RunRecord:
    """A version-1 record (as read from its file) as a version-2 record with the same id.

    Version 1 typed only the metrics; its oldest records lack two fields:
    ``protocol.effective_hash`` (then ``hash`` was the hash of the protocol as run,
    i.e. the effective hash) and ``method.source_model`` (not recorded: None).
    """
    if data.get("schema_version") != 1:
        raise ValueError(f"not a version-1 record: schema_version {data.get('schema_version')!r}")
    protocol, method = dict(data.get("protocol", {})), dict(data.get("method", {}))
    if "hash" in protocol:
        protocol.setdefault("effective_hash", protocol["hash"])
    method.setdefault("source_model", None)
    return RunRecord.model_validate(
        {**data, "schema_version": 2, "protocol": protocol, "method": method})


#: schema_version -> the function that reads a record of that version.
READERS = {1: migrate_v1, SCHEMA_VERSION: RunRecord.model_validate}


def finalize(record: dict) -> RunRecord:
    """Validate, then add the content id of exactly what will be written."""
    validated = RunRecord.model_validate({**record, "schema_version": SCHEMA_VERSION,
                                          "run_id": ""})
    return validated.model_copy(update={"run_id": content_id(validated.model_dump(mode="json"))})


def write_record(record: RunRecord, directory: Path) -> Path:
    """``<directory>/<protocol>/<run_id>.json``; distinct runs never share a file."""
    data = record.model_dump(mode="json")
    if record.run_id != content_id(data):
        # A migrated record keeps its old file's id: rewriting it would make a file
        # that fails its own check.
        raise ValueError(f"record {record.run_id} was not made by finalize(); not written")
    path = Path(directory) / record.protocol.name / f"{record.run_id}.json"
    atomic_write(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    return path


def load_record(path: Path) -> RunRecord:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path}: not a readable JSON record ({exc}); delete or re-run it") from None
    if not isinstance(data, dict):
        raise RecordError(f"{path}: not a run record (a JSON {type(data).__name__}); delete it")
    version = data.get("schema_version")
    read = READERS.get(version) if isinstance(version, int) else None
    if read is None:
        raise RecordError(
            f"{path}: schema_version {version!r} is not one this harness "
            f"reads ({', '.join(map(str, READERS))}); update the harness or re-run it"
        )
    try:
        record = read(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise RecordError(
            f"{path}: not a valid run record ({exc.error_count()} problem(s), first: {key}: "
            f"{first['msg']}); delete or re-run it"
        ) from None
    # The id is checked against the content as written, before any migration.
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
