"""Protocols are data: a TOML file in ``protocols/`` -> a frozen, validated Protocol.

The schema is strict (unknown keys and wrong types are errors naming the file
and the key), so nothing about a benchmark can hide in a typo or in a Python
default. A file may start from another with ``base = "name"``; the merged
content is what is validated. A protocol's identity is the hash of that
validated content: comments, formatting and how the file is split over bases
do not change it, any setting does.
"""

import json
import tomllib
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from harness import PROJECT_ROOT
from harness.errors import HarnessError
from harness.names import UnknownNameError, check_name
from harness.utils import stable_hash

PROTOCOL_DIR = PROJECT_ROOT / "protocols"


class ProtocolError(HarnessError, ValueError):
    """A protocol file that cannot be used as it is."""


class _Strict(BaseModel):
    # No NaN or infinity anywhere: `--set train.lr=inf` is an error, not a wasted run.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _doc(text: str, **kwargs) -> Any:
    """A schema field with its meaning; ``protocols/README.md``'s key table is made from these."""
    return Field(description=text, **kwargs)


class Domain(_Strict):
    dataset: str = _doc("a registered dataset (`harness/data/`)")
    train_split: str = _doc("the split trained on")
    test_split: str = _doc("the split evaluated on")
    data_root: str | None = _doc(
        "folder under `--data-root`; datasets that ship inside pip wheels need none",
        default=None)
    options: dict[str, Any] = _doc(
        "keyword arguments of the dataset (split seeds, preprocessing, city, ...)",
        default_factory=dict)
    test_options: dict[str, Any] = _doc(
        "extra keyword arguments for the test split only (e.g. a strided subset of GTA5's "
        "only split as the source evaluation set)", default_factory=dict)


#: The metric each task reports: ``eval.metric`` must name it.
METRIC_OF_TASK = {"classification": "accuracy", "segmentation": "iou"}


class Eval(_Strict):
    metric: Literal["accuracy", "iou"] = _doc(
        "the task's metric, stated so the file reads on its own: `accuracy` for "
        "classification, `iou` for segmentation (anything else is an error)")
    size: list[int] | None = _doc(
        "[width, height] of the labels the metric is computed at; logits are upsampled "
        "(bilinear) to the label size, labels are never downsampled",
        default=None, min_length=2, max_length=2)
    input_size: list[int] | None = _doc(
        "[width, height] the image is resized to before the network (labels untouched)",
        default=None, min_length=2, max_length=2)
    align_corners: bool = _doc("`align_corners` of the logits' upsampling", default=False)
    batch: int = _doc("evaluation batch size", default=64, gt=0)
    interval: int | None = _doc(
        "evaluate every `interval` iterations (and after the last), for model selection",
        default=None, gt=0)
    points: int | None = _doc(
        "or: evaluate every `iters // points` iterations (and after the last)",
        default=None, gt=0)

    @model_validator(mode="after")
    def _one_schedule(self):
        if self.interval is not None and self.points is not None:
            raise ValueError("give eval.interval or eval.points, not both")
        return self


class Train(_Strict):
    iters: int = _doc("training iterations", gt=0)
    batch: int = _doc("batch size per domain", gt=0)
    optimizer: Literal["sgd", "adam"] = _doc("optimizer")
    lr: float = _doc("base learning rate", gt=0)
    momentum: float = _doc("SGD momentum (Adam ignores it)", default=0.9)
    weight_decay: float = _doc("weight decay", default=0.0, ge=0)
    schedule: Literal["constant", "poly"] = _doc("learning-rate schedule")
    poly_power: float = _doc("exponent of the `poly` schedule", default=0.9)
    head_lr_mult: float = _doc(
        "learning-rate multiplier of the classifier head (DeepLab's 10x)", default=1.0, gt=0)
    resize_short_edge: list[int] | None = _doc(
        "random shorter-edge resize range [low, high] in pixels, before cropping",
        default=None, min_length=2, max_length=2)
    crop: list[int] | None = _doc("[width, height] random crop", default=None,
                                  min_length=2, max_length=2)
    flip_prob: float = _doc("probability of a horizontal flip", default=0.0, ge=0, le=1)
    amp: Literal["none", "fp16", "bf16"] = _doc(
        "mixed precision (CUDA only: on CPU the run is fp32 and the record says so)",
        default="none")
    sync_bn: bool = _doc(
        "synchronised batch-norm statistics across processes (multi-GPU runs only)",
        default=False)
    checkpoint_interval: int = _doc("iterations between checkpoints", gt=0)
    log_interval: int = _doc("iterations between log lines", default=50, gt=0)
    workers: int = _doc(
        "data-loading worker processes (training uses at least 1, so that `--resume` "
        "replays the augmentation exactly, except for datasets held in memory without "
        "randomness: the digits)", default=0, ge=0)


class Selection(_Strict):
    rule: str = _doc(
        "which evaluation point the headline number comes from: `last` (the final iterate), "
        "`source_val` (best on the held-out source validation split), a validator listed in "
        "`validators` (best score on unlabeled target data), or `oracle` (best on target-test "
        "labels: the upper bound of selection, flagged on the leaderboard)")
    validators: list[str] = _doc(
        "UDA validators scored at every evaluation point (`entropy`, `im`, `bnm`, `snd`, `dev`)",
        default_factory=list)
    source_val_fraction: float | None = _doc(
        "share of the source training split held out (seeded) as source validation",
        default=None, gt=0, lt=1)
    source_val_seed: int = _doc("seed of the source validation hold-out", default=0)
    target_val_size: int | None = _doc(
        "validators read this many unlabeled target training images (seeded); all if unset",
        default=None, gt=0)
    target_val_seed: int = _doc(
        "seed of the validators' target subset and pixel sample", default=0)
    pixels_per_image: int = _doc(
        "segmentation validators read this many pixels per image (seeded, head resolution)",
        default=1024, gt=0)


class Defaults(_Strict):
    method: str = _doc("what `harness run --protocol P` runs")
    backbone: str = _doc("the backbone it uses")


class MethodSettings(_Strict):
    """A method's paper settings on this benchmark (e.g. the Calibrator's epsilon 0.01
    and DRN-26 on GTA5->Cityscapes); ``--set`` still overrides them."""

    extends: str | None = _doc(
        "another `[methods.NAME]` table of this file that this one starts from (a variant: "
        "`suit_avgw` extends `suit`): its keys are read first and this table's are merged "
        "over them, as a file over its `base`", default=None)
    backbone: str | None = _doc("the backbone the paper uses here", default=None)
    hparams: dict[str, Any] = _doc("the method's hyper-parameters", default_factory=dict)
    train: dict[str, Any] = _doc(
        "`[train]` keys that differ for this method (batch, optimizer, lr, ...)",
        default_factory=dict)


class Reported(_Strict):
    file: str = _doc("CSV in `results/reported/`")
    tasks: list[str] = _doc("the `task` values of this protocol's rows in it", min_length=1)


class Protocol(_Strict):
    schema_version: Literal[1] = _doc("schema of this file")
    name: str = _doc("equals the file name; never inherited from a `base`")
    description: str = _doc(
        "one line shown by `harness list protocols` and on the leaderboard")
    notes: str = _doc(
        "findings shown under `## Findings` on the leaderboard page (markdown): why a number "
        "differs from its paper; documentation, not part of the hash", default="")
    task: Literal["classification", "segmentation"] = _doc("what is predicted")
    classes: str = _doc(
        "a class list in `harness/data/classes.py` (`digits10`, `cityscapes19`, ...)")
    report_subsets: list[str] = _doc(
        "`all` plus class subsets whose mean is reported (`synthia16`, `synthia13`)",
        default_factory=lambda: ["all"])
    target_labels: bool = _doc(
        "true when adaptation uses target labels (never ranked with unsupervised rows)",
        default=False)
    variant_of: str | None = _doc(
        "set when this is a reduced variant of a paper's protocol", default=None)
    source_model: Literal["train", "pretrained"] = _doc(
        "where methods that start from a source model get it: `train` (source_only on the "
        "source domain, cached) or `pretrained` (the backbone's `[model]` weights as given, "
        "e.g. ImageNet VGG16 for AdapterNet)", default="train")
    defaults: Defaults = _doc("what runs when only the protocol is named")
    model: dict[str, Any] = _doc(
        "keyword arguments of the backbone (`in_channels`, `pretrained`)", default_factory=dict)
    source: Domain = _doc("the labelled domain")
    target: Domain = _doc(
        "the domain adapted to; its training split is unlabelled during adaptation")
    eval: Eval = _doc("evaluation on both domains' test splits")
    train: Train = _doc("the training recipe")
    selection: Selection = _doc("model selection")
    reported: Reported | None = _doc(
        "the papers' rows shown beside ours on the leaderboard", default=None)
    methods: dict[str, MethodSettings] = _doc(
        "per-method paper settings on this benchmark, keyed by registered method name; "
        "`--set` still overrides them", default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _resolve_extends(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("methods"), dict):
            data = {**data, "methods": resolve_extends(data["methods"])}
        return data

    @model_validator(mode="after")
    def _metric_matches_task(self) -> "Protocol":
        expected = METRIC_OF_TASK[self.task]
        if self.eval.metric != expected:
            # A custom error: pydantic would prefix a ValueError's message with "Value error".
            raise PydanticCustomError("metric_task", (
                f"eval.metric = {self.eval.metric!r} but task = {self.task!r} reports "
                f"{expected!r}: set eval.metric = {expected!r}"))
        return self

    @model_validator(mode="after")
    def _selection_fits(self) -> "Protocol":
        from harness.selection import check_selection

        check_selection(self)
        return self

    @property
    def hash(self) -> str:
        """sha256 of the validated content (key order and comments do not matter).

        Values equal to the schema's defaults are left out, so adding an optional
        key to the schema does not change the identity of existing protocols.
        ``notes`` (documentation) is left out. The ``[methods.NAME]`` tables are
        left out too: a method's own settings
        are part of its runs' identity (their effective hash and hparams, see
        :meth:`for_method`), so giving one method a budget leaves every other
        method's runs of this file valid.
        """
        content = self.model_dump(mode="json", exclude_defaults=True,
                                  exclude={"methods", "notes"})
        return stable_hash(content)

    def method_overrides(self, method: str) -> dict[str, Any]:
        """The ``[methods.NAME] train`` table as overrides (``train.KEY``) of this protocol."""
        settings = self.methods.get(method)
        return {f"train.{k}": v for k, v in settings.train.items()} if settings else {}

    def for_method(self, method: str) -> "Protocol":
        """This protocol as ``method`` runs it without ``--set``: its train table applied."""
        overrides = self.method_overrides(method)
        if not overrides:
            return self
        data = apply_overrides(self.model_dump(mode="json"), overrides, f"[methods.{method}]")
        return Protocol.model_validate(data)


def resolve_extends(tables: dict) -> dict:
    """``[methods.NAME]`` tables with each ``extends`` chain merged under the table.

    The result keeps ``extends`` and resolving it again changes nothing, so a protocol
    dumped and validated again (:meth:`Protocol.for_method`) stays the same.
    """
    out: dict = {}

    def resolve(name: str, chain: tuple[str, ...]) -> Any:
        table = tables[name]
        if name not in out:
            base = table.get("extends") if isinstance(table, dict) else None
            if base is None:
                out[name] = table
            elif base in chain + (name,):
                cycle = " -> ".join((*chain, name, base))
                raise PydanticCustomError("method_extends", (
                    f"methods.{name}.extends = {base!r}: the tables extend each other "
                    f"({cycle}); remove one extends"))
            elif base not in tables:
                try:
                    check_name("[methods] table", base, tables,
                               prefix=f"methods.{name}.extends = {base!r}")
                except UnknownNameError as exc:
                    raise PydanticCustomError("method_extends", str(exc)) from None
            else:
                under = resolve(base, chain + (name,))
                # A base that is not a table is the schema's error, reported as such.
                out[name] = _merged(under, table) if isinstance(under, dict) else table
        return out[name]

    for name in tables:
        resolve(name, ())
    return out


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
        if not key.startswith(open_tables):
            check_name("setting", key, known, prefix=f"--set {key}={value!r}: {source}",
                       error=ProtocolError)
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
    """Read (bases merged), override and validate a protocol; errors name the file and key.

    ``from_cli``: the override keys the user gave with ``--set`` (default: all), which
    errors name as such rather than as problems of the file.
    """
    path = protocol_path(name)
    data = apply_overrides(resolve_bases(path), overrides or {}, str(path))
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


def resolve_bases(path: Path) -> dict:
    """The file's TOML with its ``base`` chain merged under it, ``base`` keys removed.

    ``base = "other"`` names a protocol file in the same folder. Keys of the
    file replace the base's (tables merge key by key); ``name`` is never
    inherited. Resolution comes before validation and hashing, so a protocol
    rewritten over a base keeps its hash.
    """
    chain, layers = [path], [_read_toml(path)]
    while "base" in layers[-1]:
        base = layers[-1].pop("base")
        here = chain[-1]
        if not isinstance(base, str):
            raise ProtocolError(f"{here}: base = {base!r}: give a protocol name, e.g. "
                                'base = "gta5_cityscapes"')
        base_path = here.parent / f"{base}.toml"
        if base_path.resolve() in {p.resolve() for p in chain}:
            cycle = " -> ".join(str(p) for p in [*chain, base_path])
            raise ProtocolError(f"{path}: the bases form a cycle ({cycle}); remove one base")
        if not base_path.is_file():
            check_name("protocol", base, protocol_names(here.parent),
                       prefix=f"{here}: base = {base!r} ({base_path} does not exist)",
                       error=ProtocolError)
        chain.append(base_path)
        layers.append(_read_toml(base_path))
    data: dict = {}
    for layer in reversed(layers[1:]):
        layer.pop("name", None)
        data = _merged(data, layer)
    return _merged(data, layers[0])


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"{path}: not valid TOML: {exc}") from exc


def _merged(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``: tables merge key by key, other values replace.

    Written here because mmengine's equivalent (``Config._merge_a_into_b``) is
    private and reads its own ``_delete_`` syntax.
    """
    out = dict(base)
    for key, value in over.items():
        both_tables = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merged(out[key], value) if both_tables else value
    return out


def _describe(path: Path, exc: ValidationError, cli: set[str]) -> str:
    keys = [".".join(str(p) for p in err["loc"]) for err in exc.errors()]
    where = ("the command line" if all(k in cli for k in keys) else
             "the protocol file or the command line" if any(k in cli for k in keys) else
             "the protocol file")
    lines = [f"{path}: {exc.error_count()} problem(s) in {where}:"]
    for key, err in zip(keys, exc.errors()):
        if not key:  # a check across keys (e.g. eval.metric against task)
            lines.append(f"  - {err['msg']}")
        elif key in cli:
            lines.append(f"  - --set {key}={err.get('input')!r}: {err['msg']}")
        elif err["type"] == "missing":
            lines.append(f"  - missing key {key!r}: add it (see protocols/README.md)")
        elif err["type"] == "extra_forbidden":
            lines.append(f"  - unknown key {key!r}: remove it or fix its spelling")
        else:
            lines.append(f"  - {key} = {err.get('input')!r}: {err['msg']}")
    return "\n".join(lines)
