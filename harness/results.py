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
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from harness.errors import HarnessError
from harness.evaluation.metrics import derive
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
    #: The cached weights' digest (:func:`harness.checkpoints.weights_digest`): equal to
    #: ``train.weights_sha256`` of every source_only record that trained the same weights,
    #: so the link survives a retrained cache entry (a new run id). None in records written
    #: before it was kept (left out of the JSON, so those keep their content ids).
    weights_sha256: str | None = Field(default=None, exclude_if=lambda v: v is None)


class WeightsSource(_Strict):
    """A part of the method loaded from another run's final weights file."""

    #: The record of the run that wrote the file (from the file's meta); None if unknown.
    run_id: str | None
    method: str | None
    backbone: str | None
    #: sha256 of the file: which weights exactly, without naming a machine's path.
    sha256: str


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
    #: Parts loaded from other runs' weights (``UDAMethod.weights_from``), e.g. SUIT's
    #: frozen generator: part name -> the run and file they came from.
    loaded_weights: dict[str, WeightsSource] = {}


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
    #: The CPU kernels' instruction set (``torch.backends.cpu.get_cpu_capability()``,
    #: e.g. AVX2, AVX512): CPU runs are bit-for-bit repeatable only on the same one.
    #: None on CUDA and in records written before it was kept (left out of the JSON
    #: then, so those records keep their content ids).
    cpu_capability: str | None = Field(default=None, exclude_if=lambda v: v is None)


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
    #: Every rule the run could apply -> the iteration it picks (``oracle`` included,
    #: flagged: it reads target-test labels); None for a validator that scored no point.
    #: Empty in records from before selection.
    picks: dict[str, int | None] = {}


class EvalPoint(_Strict):
    """One evaluation during training: what every selection rule reads."""

    iter: int
    #: Target test split (read for reporting and by the ``oracle`` rule only).
    target: DomainMetrics
    source: DomainMetrics
    #: Held-out source validation split, where the protocol declares one.
    source_val: DomainMetrics | None = None
    #: Validator name -> score on unlabeled target training data; None where the samples
    #: gave that validator no score (e.g. DEV's importance weights overflowed).
    validators: dict[str, FiniteFloat | None] = {}


class TrainInfo(_Strict):
    iters: int
    wall_time_s: float
    #: Peak resident memory of the run's (rank 0) process in MiB, from the kernel's
    #: ``ru_maxrss``: what the run needs of the machine's RAM; data-loader worker processes
    #: are not counted. None in records written before it was kept (left out of the JSON
    #: then, so those records keep their content ids).
    peak_rss_mib: float | None = Field(default=None, exclude_if=lambda v: v is None)
    #: Peak of ``torch.cuda.max_memory_allocated`` on rank 0's GPU in MiB (tensors only,
    #: not the allocator's cache); None on CPU.
    peak_cuda_mib: float | None = Field(default=None, exclude_if=lambda v: v is None)
    #: Digest of the final weights (``model_final.pth``, and the source-model cache entry a
    #: plain source_only run fills): :func:`harness.checkpoints.weights_digest`. None in
    #: records written before it was kept (left out of the JSON).
    weights_sha256: str | None = Field(default=None, exclude_if=lambda v: v is None)
    #: The protocol's train settings as the run's harness version wrote them; kept
    #: untyped so that records outlive changes to the protocol schema.
    config: dict[str, Any]


class SampleFiles(_Strict):
    """The per-image counts beside the record (``<run_id>.samples.npz``, see
    :mod:`harness.per_sample`), named by the sha256 of the file."""

    target: str


class ExternalSubmission(_Strict):
    """Predictions made outside the harness and scored by ``harness eval --predictions``:
    the record then has no training provenance (backbone, selection, train: None)."""

    #: sha256 over the scored files (see :func:`harness.predictions.predictions_sha256`).
    predictions_sha256: str
    format: Literal["png", "csv"]
    citation: str | None


class RunRecord(_Strict):
    schema_version: Literal[2]
    run_id: str
    created: str
    #: Declared before the fields it decides (pydantic validates in declaration order).
    external: ExternalSubmission | None = None
    protocol: ProtocolIdentity
    method: MethodInfo
    #: backbone, selection, train: None exactly for external predictions.
    backbone: BackboneInfo | None
    seed: int
    code: CodeVersion
    packages: dict[str, str]
    device: DeviceInfo
    #: The evaluated splits: both test splits (and validation splits a selection rule
    #: read), or target_test alone for external predictions.
    data: dict[Literal["source_test", "target_test", "source_val", "target_val"], SplitData]
    classes: ClassSet
    selection: SelectionInfo | None
    train: TrainInfo | None
    metrics: dict[Literal["target", "source"], DomainMetrics]
    #: Every evaluation point, in order (records from before periodic evaluation: none).
    evaluations: list[EvalPoint] = []
    #: Optional so that records written before per-image counts were kept stay valid.
    samples: SampleFiles | None = None
    #: PNG pictures the method handed back (``harness.pictures``): name -> sha256 of
    #: the file written beside the record as ``<run_id>.<name>.png``.
    pictures: dict[str, str] = {}

    @field_validator("backbone", "selection", "train")
    @classmethod
    def _training(cls, value, info: ValidationInfo):
        external = info.data.get("external") is not None
        if external and value is not None:
            raise ValueError("external predictions carry no training provenance: must be null")
        if not external and value is None:
            raise ValueError("a trained run records it")
        return value

    @field_validator("metrics", "data")
    @classmethod
    def _domains(cls, value: dict, info: ValidationInfo) -> dict:
        # Trained runs are evaluated on both domains (leaderboards plot one against the
        # other); external predictions exist for the target test split only.
        external = info.data.get("external") is not None
        domains = ("target",) if external else ("target", "source")
        keys = {d if info.field_name == "metrics" else f"{d}_test" for d in domains}
        missing = keys - set(value)
        if missing:
            raise ValueError(f"no entry for {', '.join(sorted(missing))}")
        if external and set(value) != keys:
            raise ValueError(f"external predictions have only {', '.join(sorted(keys))}")
        return value


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
    for domain, metrics in record.metrics.items():
        check_derived(path, f"metrics.{domain}", metrics.model_dump())
    return record


def _same(stored, derived) -> bool:
    if isinstance(derived, float) and isinstance(stored, int | float):
        return math.isclose(stored, derived, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(derived, list) and isinstance(stored, list):
        return len(stored) == len(derived) and all(map(_same, stored, derived))
    if isinstance(derived, dict) and isinstance(stored, dict):
        return all(_same(stored.get(k), v) for k, v in derived.items())
    return stored == derived


def check_derived(path, where: str, metrics: dict) -> None:
    """Every metric of ``metrics`` (and of its variants) equals what its confusion matrix gives.

    A record whose headline numbers were edited and its run id recomputed passes the
    id check; this one names the edited field.
    """
    classes = metrics["classes"]
    try:
        subsets = {name: [classes.index(c) for c in subset["classes"]]
                   for name, subset in metrics["subsets"].items()}
        derived = derive(metrics["confusion"], classes, subsets)
    except (KeyError, ValueError) as exc:
        raise RecordError(f"{path}: {where}: metrics cannot be derived from the confusion "
                          f"matrix ({exc}); delete or re-run it") from None
    for key, value in derived.items():
        if not _same(metrics.get(key), value):
            raise RecordError(
                f"{path}: {where}.{key} = {metrics.get(key)!r} but its confusion matrix gives "
                f"{value!r}: the file was edited after the run; re-run it"
            )
    for name, variant in metrics.get("variants", {}).items():
        check_derived(path, f"{where}.variants.{name}", variant)


def load_records(directory: Path) -> tuple[list[RunRecord], list[RecordError]]:
    """Every record under ``directory``; bad files are returned as errors, not skipped silently."""
    records, errors = [], []
    for path in sorted(Path(directory).glob("*/*.json")):
        try:
            records.append(load_record(path))
        except RecordError as exc:
            errors.append(exc)
    return records, errors
