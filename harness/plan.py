"""A run resolved once: what ``harness run`` was asked, checked and derived in one frozen object.

Everything downstream (the config, the runner, the record, ``harness eval``,
``harness drift``, data checks) takes a :class:`RunPlan` and never re-derives
what it holds: the protocol as this run uses it, the method class and its
HParams, the classes and their subsets, AMP, the work dir, the data root, the
source-model cache entry and the run key.
"""

import dataclasses
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import paths
from harness.data.classes import ClassList, get_classes, subset_indices
from harness.errors import HarnessError
from harness.method import UDAMethod, build_hparams
from harness.names import UnknownNameError, check_name
from harness.protocol import Protocol, load_protocol, parse_value
from harness.utils import stable_json

#: ``--set model.init=PATH`` names the backbone's pretrained weights file.
MODEL_ALIASES = {"init": "pretrained"}


class PlanError(HarnessError, ValueError):
    """A method, backbone or override that does not fit the protocol."""


@dataclass(frozen=True)
class RunPlan:
    #: The protocol as this run uses it: the file, the method's own settings from
    #: its ``[methods.NAME]`` table, then the user's ``--set`` overrides.
    protocol: Protocol
    #: Hash of the protocol file as written: what leaderboards group runs by.
    file_hash: str
    method: str
    method_cls: type[UDAMethod]
    #: The method's frozen HParams instance (paper defaults, table, then --set).
    hparams: Any
    backbone: str
    model_options: dict[str, Any]
    seed: int
    classes: ClassList
    #: Declared report subsets (besides "all") -> class indices.
    subsets: dict[str, list[int]]
    #: AMP as it will run: "none" on CPU whatever the protocol asks.
    amp: str
    key: str
    work_dir: Path
    data_root: Path
    results_dir: Path
    #: The protocol the source model trains under: the file and the user's ``--set``
    #: overrides, without the method's ``[methods.NAME]`` table, so a method's own
    #: budget never retrains (and so changes) the source model it starts from.
    source_protocol: Protocol
    #: Where the source-only model of this (protocol, backbone, seed) is cached.
    source_cache: Path
    #: The user's overrides (``--set``), as records list them.
    overrides: dict[str, Any] = field(default_factory=dict)
    launcher: str = "none"
    resume: bool = False
    quiet: bool = False

    @property
    def hparams_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.hparams)

    @property
    def identity(self) -> dict[str, Any]:
        """What this run's training checkpoints record; ``--resume`` refuses any other run's."""
        return json.loads(stable_json({
            "key": self.key, "protocol_hash": self.protocol.hash, "method": self.method,
            "hparams": self.hparams_dict, "backbone": self.backbone,
            "model_options": self.model_options, "seed": self.seed}))

    def for_source_model(self) -> "RunPlan":
        """The plain source-only run that fills this plan's source-model cache entry.

        It trains under :attr:`source_protocol` (what the cache key hashes) into
        the cache folder.
        """
        cls = method_class("source_only")
        hp = cls.HParams()
        return dataclasses.replace(
            self, protocol=self.source_protocol, method="source_only", method_cls=cls,
            hparams=hp, overrides={},
            key=paths.run_key(self.source_protocol.hash, "source_only", self.backbone, self.seed,
                              dataclasses.asdict(hp), self.model_options),
            work_dir=self.source_cache.parent, results_dir=self.source_cache.parent / "records",
            resume=True,
        )


def method_class(name: str) -> type[UDAMethod]:
    from harness.registry import METHODS

    METHODS.import_from_location()
    check_name("method", name, METHODS.module_dict)
    return METHODS.get(name)


def backbone_names() -> list[str]:
    from harness.registry import MODELS

    MODELS.import_from_location()
    return sorted(MODELS.module_dict)


#: Dataset constructor arguments the harness sets itself: never protocol options.
_HARNESS_ARGS = {"self", "split", "pipeline", "with_label", "data_root"}


def check_dataset_options(proto: Protocol) -> None:
    """Every ``options`` / ``test_options`` key is an argument of its dataset's constructor."""
    from harness.registry import DATASETS

    DATASETS.import_from_location()
    for side in ("source", "target"):
        domain = getattr(proto, side)
        dataset = DATASETS.get(domain.dataset)
        if dataset is None:
            check_name("dataset", domain.dataset, DATASETS.module_dict)
        params = inspect.signature(dataset.__init__).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            continue  # takes anything: its own constructor checks
        valid = [name for name in params if name not in _HARNESS_ARGS]
        for table in ("options", "test_options"):
            for key in getattr(domain, table):
                try:
                    check_name(f"{domain.dataset} option", key, valid)
                except UnknownNameError as exc:
                    raise PlanError(f"{side}.{table}.{key}: {exc}") from None


def split_overrides(pairs: list[str]) -> tuple[dict, dict, dict]:
    """``k=v`` strings -> (protocol overrides, method hparams, backbone options)."""
    protocol, hparams, model = {}, {}, {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise PlanError(f"--set {pair!r}: expected KEY=VALUE, e.g. --set train.iters=100")
        value = parse_value(text)
        if key.startswith("method."):
            hparams[key.removeprefix("method.")] = value
        else:
            protocol[key] = value
    for key in [k for k in protocol if k.startswith("model.")]:
        name = key.removeprefix("model.")
        model[MODEL_ALIASES.get(name, name)] = protocol.pop(key)
    return protocol, hparams, model


def make_plan(
    protocol: str,
    method: str | None = None,
    backbone: str | None = None,
    seed: int = 0,
    sets: list[str] | tuple[str, ...] = (),
    *,
    work_dir: Path | None = None,
    data_root: Path | None = None,
    results_dir: Path | None = None,
    launcher: str = "none",
    resume: bool = False,
    quiet: bool = False,
) -> RunPlan:
    """Check every name and override now, before any data is read or model built."""
    import torch

    protocol_overrides, user_hparams, model = split_overrides(list(sets))
    user_overrides = dict(protocol_overrides)
    as_written = load_protocol(protocol)
    method = as_written.defaults.method if method is None else method
    cls = method_class(method)
    settings = as_written.methods.get(method)
    source_proto = load_protocol(protocol, protocol_overrides, from_cli=user_overrides)
    proto = source_proto
    if settings is not None and settings.train:
        protocol_overrides = {**as_written.method_overrides(method), **protocol_overrides}
        proto = load_protocol(protocol, protocol_overrides, from_cli=user_overrides)
    check_dataset_options(proto)
    if backbone is None:
        backbone = (settings and settings.backbone) or proto.defaults.backbone
    if proto.task not in cls.tasks:
        raise PlanError(
            f"method {method!r} applies to {', '.join(cls.tasks)} protocols, and "
            f"{proto.name} is a {proto.task} protocol; pick another --method or --protocol"
        )
    check_name("backbone", backbone, backbone_names())
    hp = build_hparams(cls.HParams, {**(settings.hparams if settings else {}), **user_hparams},
                       method)
    if proto.selection.validators:  # fail now, not at the first evaluation point
        from harness.evaluation import validate
        from harness.selection import check_validator_names, rule_names, usable

        check_validator_names(proto)
        validators, source_val = usable(proto, cls.source_free)
        validate.build(validators, method, cls.exposes_features, source_val)
        if proto.selection.rule not in rule_names(proto, cls.source_free):
            raise PlanError(f"{method!r} is source-free: selection.rule = "
                            f"{proto.selection.rule!r} reads source data; use 'last' or a "
                            "target-only validator (--set selection.rule=last)")
    model_options = {**proto.model, **model}
    hparams = dataclasses.asdict(hp)
    key = paths.run_key(proto.hash, method, backbone, seed, hparams, model_options)
    amp = proto.train.amp if proto.train.amp != "none" and torch.cuda.is_available() else "none"
    return RunPlan(
        protocol=proto, file_hash=as_written.hash, method=method, method_cls=cls, hparams=hp,
        backbone=backbone, model_options=model_options, seed=seed,
        classes=get_classes(proto.classes),
        subsets={s: subset_indices(s, proto.classes) for s in proto.report_subsets if s != "all"},
        amp=amp, key=key,
        work_dir=Path(work_dir or paths.work_dir(proto.name, method, backbone, seed, key)),
        data_root=paths.data_root(data_root),
        results_dir=Path(results_dir or Path("work_dirs") / "records"),
        source_protocol=source_proto,
        source_cache=paths.source_model_file(source_proto, backbone, model_options, seed),
        overrides={**user_overrides,
                   **{f"method.{k}": v for k, v in user_hparams.items()},
                   **{f"model.{k}": v for k, v in model.items()}},
        launcher=launcher, resume=resume, quiet=quiet,
    )
