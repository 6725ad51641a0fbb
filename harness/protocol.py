"""Protocols are data: a TOML file in ``protocols/`` -> a frozen, validated Protocol.

The schema is strict (unknown keys and wrong types are errors naming the file
and the key), so nothing about a benchmark can hide in a typo or in a Python
default. A protocol's identity is the hash of its validated content: comments
and formatting do not change it, any setting does.
"""

import difflib
import json
import tomllib
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness import PROJECT_ROOT
from harness.errors import HarnessError
from harness.names import check_name
from harness.utils import stable_hash

PROTOCOL_DIR = PROJECT_ROOT / "protocols"


class ProtocolError(HarnessError, ValueError):
    """A protocol file that cannot be used as it is."""


class _Strict(BaseModel):
    # No NaN or infinity anywhere: `--set train.lr=inf` is an error, not a wasted run.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Domain(_Strict):
    dataset: str
    train_split: str
    test_split: str
    #: Folder under ``--data-root``; datasets that ship inside pip wheels need none.
    data_root: str | None = None
    #: Passed to the dataset's constructor (split seeds, preprocessing, ...).
    options: dict[str, Any] = Field(default_factory=dict)
    #: Extra constructor options for the test split only (e.g. a strided subset of
    #: GTA5's only split as the source evaluation set).
    test_options: dict[str, Any] = Field(default_factory=dict)


class Eval(_Strict):
    metric: Literal["accuracy", "iou"]
    #: Label resolution (width, height) the metric is computed at; logits are
    #: upsampled (bilinear) to the label size, never labels downsampled.
    size: list[int] | None = Field(default=None, min_length=2, max_length=2)
    #: (width, height) the image is resized to before the network (labels untouched).
    input_size: list[int] | None = Field(default=None, min_length=2, max_length=2)
    align_corners: bool = False
    batch: int = Field(default=64, gt=0)


class Train(_Strict):
    iters: int = Field(gt=0)
    batch: int = Field(gt=0)
    optimizer: Literal["sgd", "adam"]
    lr: float = Field(gt=0)
    momentum: float = 0.9
    weight_decay: float = Field(default=0.0, ge=0)
    schedule: Literal["constant", "poly"]
    poly_power: float = 0.9
    #: Learning-rate multiplier of the classifier head (DeepLab's 10x).
    head_lr_mult: float = Field(default=1.0, gt=0)
    #: Random shorter-edge resize range [low, high] in pixels, before cropping.
    resize_short_edge: list[int] | None = Field(default=None, min_length=2, max_length=2)
    #: (width, height) random crop.
    crop: list[int] | None = Field(default=None, min_length=2, max_length=2)
    flip_prob: float = Field(default=0.0, ge=0, le=1)
    amp: Literal["none", "fp16", "bf16"] = "none"
    #: Synchronised batch-norm statistics across processes (multi-GPU runs only).
    sync_bn: bool = False
    checkpoint_interval: int = Field(gt=0)
    log_interval: int = Field(default=50, gt=0)
    workers: int = Field(default=0, ge=0)


class Selection(_Strict):
    #: ``last``: the final iterate; ``source_val``: best on source validation;
    #: ``oracle``: best on target labels (flagged on the leaderboard).
    rule: Literal["last", "source_val", "oracle"]


class Defaults(_Strict):
    method: str
    backbone: str


class MethodSettings(_Strict):
    """A method's paper settings on this benchmark (e.g. the Calibrator's epsilon 0.01
    and DRN-26 on GTA5->Cityscapes); ``--set`` still overrides them."""

    backbone: str | None = None
    hparams: dict[str, Any] = Field(default_factory=dict)
    #: ``[train]`` keys that differ for this method (batch, optimizer, lr, ...).
    train: dict[str, Any] = Field(default_factory=dict)


class Reported(_Strict):
    #: CSV in ``results/reported/`` and the ``task`` values of this protocol's rows.
    file: str
    tasks: list[str] = Field(min_length=1)


class Protocol(_Strict):
    schema_version: Literal[1]
    name: str
    description: str
    task: Literal["classification", "segmentation"]
    classes: str
    report_subsets: list[str] = Field(default_factory=lambda: ["all"])
    #: True when adaptation uses target labels (never ranked with unsupervised rows).
    target_labels: bool = False
    #: Set when the protocol is a reduced variant of a paper's protocol.
    variant_of: str | None = None
    #: Where methods that start from a source model get it: ``train`` (source_only on
    #: the source domain, cached) or ``pretrained`` (the backbone's ``[model]`` weights
    #: as given, e.g. ImageNet VGG16 for AdapterNet).
    source_model: Literal["train", "pretrained"] = "train"
    defaults: Defaults
    #: Keyword arguments of the backbone constructor (e.g. ``in_channels = 1``).
    model: dict[str, Any] = Field(default_factory=dict)
    source: Domain
    target: Domain
    eval: Eval
    train: Train
    selection: Selection
    reported: Reported | None = None
    #: Per-method settings, keyed by registered method name.
    methods: dict[str, MethodSettings] = Field(default_factory=dict)

    @property
    def hash(self) -> str:
        """sha256 of the validated content (key order and comments do not matter).

        Values equal to the schema's defaults are left out, so adding an optional
        key to the schema does not change the identity of existing protocols.
        """
        content = self.model_dump(mode="json", exclude_defaults=True)
        return stable_hash(content)


def protocol_names(directory: Path = PROTOCOL_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.toml"))


def protocol_path(name: str, directory: Path = PROTOCOL_DIR) -> Path:
    """The file of a protocol given by name or by path."""
    as_path = Path(name)
    if as_path.suffix == ".toml":
        if not as_path.is_file():
            raise ProtocolError(f"protocol file {as_path} does not exist")
        return as_path
    check_name("protocol", name, protocol_names(directory))
    return directory / f"{name}.toml"


def parse_value(text: str) -> Any:
    """A ``--set`` value: TOML syntax (``2``, ``1e-3``, ``true``, ``[1, 2]``), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: dict, overrides: dict[str, Any], source: str) -> dict:
    """Set dotted keys (``train.iters``) in a nested dict; unknown keys are errors."""
    data = json.loads(json.dumps(data))  # deep copy of plain TOML data
    known = sorted(_dotted_keys(Protocol))
    # Free-form tables: their keys are checked by the constructor they feed.
    open_tables = ("model.", "source.options.", "target.options.", "source.test_options.",
                   "target.test_options.")
    for key, value in overrides.items():
        if key not in known and not key.startswith(open_tables):
            close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ProtocolError(f"--set {key}={value!r}: {source} has no setting {key!r}.{hint}")
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return data


def _dotted_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        sub = _model_class(field.annotation)
        if sub is not None:
            keys += _dotted_keys(sub, f"{prefix}{name}.")
        keys.append(f"{prefix}{name}")
    return keys


def _model_class(annotation) -> type[BaseModel] | None:
    candidates = getattr(annotation, "__args__", None) or (annotation,)
    for cand in candidates:
        if isinstance(cand, type) and issubclass(cand, BaseModel):
            return cand
    return None


def load_protocol(name: str, overrides: dict[str, Any] | None = None,
                  from_cli: Collection[str] | None = None) -> Protocol:
    """Read, override and validate a protocol; errors name the file and the key.

    ``from_cli``: the override keys the user gave with ``--set`` (default: all), which
    errors name as such rather than as problems of the file.
    """
    path = protocol_path(name)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"{path}: not valid TOML: {exc}") from exc
    data = apply_overrides(data, overrides or {}, str(path))
    try:
        protocol = Protocol.model_validate(data)
    except ValidationError as exc:
        cli = set(overrides or {}) if from_cli is None else set(from_cli)
        raise ProtocolError(_describe(path, exc, cli)) from None
    if protocol.name != path.stem:
        raise ProtocolError(
            f"{path}: name = {protocol.name!r} but the file is {path.name}; make them equal"
        )
    return protocol


def _describe(path: Path, exc: ValidationError, cli: set[str]) -> str:
    keys = [".".join(str(p) for p in err["loc"]) for err in exc.errors()]
    where = ("the command line" if all(k in cli for k in keys) else
             "the protocol file or the command line" if any(k in cli for k in keys) else
             "the protocol file")
    lines = [f"{path}: {exc.error_count()} problem(s) in {where}:"]
    for key, err in zip(keys, exc.errors()):
        if key in cli:
            lines.append(f"  - --set {key}={err.get('input')!r}: {err['msg']}")
        elif err["type"] == "missing":
            lines.append(f"  - missing key {key!r}: add it (see protocols/README.md)")
        elif err["type"] == "extra_forbidden":
            lines.append(f"  - unknown key {key!r}: remove it or fix its spelling")
        else:
            lines.append(f"  - {key} = {err.get('input')!r}: {err['msg']}")
    return "\n".join(lines)
