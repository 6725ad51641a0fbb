"""(protocol, method, backbone, overrides) -> the mmengine Config that Runner runs.

Users never write mmengine configs: everything a run does is derived here from
the protocol file and the method's HParams, and ``harness run --dump-config``
prints the result.
"""

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from mmengine.config import Config

from harness import PROJECT_ROOT
from harness.method import UDAMethod, build_hparams
from harness.names import check_name
from harness.protocol import Protocol, load_protocol, parse_value

#: ``--set model.init=PATH`` names the backbone's pretrained weights file.
MODEL_ALIASES = {"init": "pretrained"}


@dataclass(frozen=True)
class RunSpec:
    """What the user asked for, after name checks and override parsing."""

    #: The protocol as this run uses it: the file, the method's own settings from
    #: its ``[methods.NAME]`` table, then the user's ``--set`` overrides.
    protocol: Protocol
    method: str
    backbone: str
    seed: int
    hparams: dict[str, Any]
    model_options: dict[str, Any]
    overrides: dict[str, Any] = field(default_factory=dict)
    #: Hash of the protocol file as written: what leaderboards group runs by.
    file_hash: str = ""

    @property
    def key(self) -> str:
        """Short hash of everything that changes the result (names the work dir)."""
        blob = json.dumps(
            [self.protocol.hash, self.method, self.backbone, self.seed, self.hparams,
             self.model_options], sort_keys=True, default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:10]


def method_class(name: str):
    from harness.registry import METHODS

    METHODS.import_from_location()
    check_name("method", name, METHODS.module_dict)
    return METHODS.get(name)


def backbone_names() -> list[str]:
    from harness.registry import MODELS

    MODELS.import_from_location()
    return sorted(MODELS.module_dict)


def split_overrides(pairs: list[str]) -> tuple[dict, dict, dict]:
    """``k=v`` strings -> (protocol overrides, method hparams, backbone options)."""
    protocol, hparams, model = {}, {}, {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {pair!r}: expected KEY=VALUE, e.g. --set train.iters=100")
        value = parse_value(text)
        if key.startswith("method."):
            hparams[key.removeprefix("method.")] = value
        else:
            protocol[key] = value
    for key in [k for k in protocol if k.startswith("model.")]:
        name = key.removeprefix("model.")
        model[MODEL_ALIASES.get(name, name)] = protocol.pop(key)
    return protocol, hparams, model


def resolve(
    protocol: str, method: str | None, backbone: str | None, seed: int, sets: list[str]
) -> RunSpec:
    protocol_overrides, hparams, model = split_overrides(sets)
    user_overrides = dict(protocol_overrides)
    as_written = load_protocol(protocol)
    method = method or as_written.defaults.method
    settings = as_written.methods.get(method)
    if settings is not None:
        protocol_overrides = {**{f"train.{k}": v for k, v in settings.train.items()},
                              **protocol_overrides}
    proto = load_protocol(protocol, protocol_overrides)
    backbone = backbone or (settings and settings.backbone) or proto.defaults.backbone
    user_hparams = hparams
    hparams = {**(settings.hparams if settings else {}), **hparams}
    cls = method_class(method)
    if proto.task not in cls.tasks:
        raise ValueError(
            f"method {method!r} applies to {', '.join(cls.tasks)} protocols, and "
            f"{proto.name} is a {proto.task} protocol; pick another --method or --protocol"
        )
    check_name("backbone", backbone, backbone_names())
    hp = build_hparams(cls.HParams, hparams, method)  # fail now, not after data loading
    return RunSpec(
        protocol=proto, method=method, backbone=backbone, seed=seed,
        hparams=dataclasses.asdict(hp), model_options={**proto.model, **model},
        overrides={**user_overrides,
                   **{f"method.{k}": v for k, v in user_hparams.items()},
                   **{f"model.{k}": v for k, v in model.items()}},
        file_hash=as_written.hash,
    )


def source_model_path(spec: RunSpec) -> Path:
    """Cached source-only weights for methods that start from a trained source model.

    Keyed by what the source model depends on: the protocol's source domain,
    classes, backbone options and training settings, the backbone and the seed.
    """
    p = spec.protocol
    blob = json.dumps([p.source.model_dump(mode="json"), p.classes, p.train.model_dump(mode="json"),
                       spec.backbone, spec.model_options, spec.seed], sort_keys=True, default=str)
    key = hashlib.sha256(blob.encode()).hexdigest()[:10]
    root = Path(os.environ.get("HARNESS_CACHE", Path("work_dirs") / "source_models"))
    return root / p.name / f"{spec.backbone}-s{spec.seed}-{key}" / "model_final.pth"


def default_work_dir(spec: RunSpec) -> Path:
    return Path("work_dirs") / spec.protocol.name / (
        f"{spec.method}-{spec.backbone}-s{spec.seed}-{spec.key}"
    )


def default_data_root(data_root: Path | None) -> Path:
    return Path(data_root or os.environ.get("HARNESS_DATA", PROJECT_ROOT / "data"))


def train_pipeline(train) -> list[dict]:
    """Random shorter-edge resize, crop and flip (mmcv/mmseg transforms), as declared."""
    steps = []
    if train.resize_short_edge:
        low, high = train.resize_short_edge
        # keep_ratio with an unbounded long edge: the shorter edge is drawn in [low, high].
        steps.append({"type": "RandomResize", "scale": [(1_000_000, low), (1_000_000, high)],
                      "keep_ratio": True})
    if train.crop:
        width, height = train.crop
        steps.append({"type": "RandomCrop", "crop_size": (height, width)})
    if train.flip_prob:
        steps.append({"type": "RandomFlip", "prob": train.flip_prob})
    return steps


def test_pipeline(evaluation) -> list[dict]:
    return [{"type": "ResizeImage", "size": tuple(evaluation.input_size)}] if (
        evaluation.input_size) else []


def _dataset(domain, split: str, data_root: Path, labels: bool, pipeline=None,
             test: bool = False, pseudo_root: Path | None = None) -> dict:
    cfg = {"type": domain.dataset, "split": split, **domain.options,
           **(domain.test_options if test else {})}
    if pipeline is not None:  # segmentation datasets: say whether labels must be there
        cfg["pipeline"] = pipeline
        cfg["with_label"] = labels
    if domain.data_root is not None:
        cfg["data_root"] = str(data_root / domain.data_root)
    if pseudo_root is not None:  # self-training: the round's pseudo-labels, never the truth
        cfg["with_label"] = False
        cfg["pipeline"] = [{"type": "LoadPseudoLabel", "root": str(pseudo_root)}, *pipeline]
    if not labels:
        cfg = {"type": "WithoutLabels", "dataset": cfg, "pseudo_labels": pseudo_root is not None}
    return cfg


def _loader(dataset: dict, batch: int, workers: int, train: bool) -> dict:
    sampler = (
        {"type": "InfiniteSampler", "shuffle": True}
        if train
        # No padding: a padded sampler would count repeated samples twice.
        else {"type": "DefaultSampler", "shuffle": False, "round_up": False}
    )
    return {
        "batch_size": batch,
        "num_workers": workers,
        "persistent_workers": workers > 0,
        "sampler": sampler,
        "collate_fn": {"type": "default_collate"},
        "dataset": dataset,
    }


def _optimizer(train) -> dict:
    if train.optimizer == "sgd":
        return {"type": "SGD", "lr": train.lr, "momentum": train.momentum,
                "weight_decay": train.weight_decay}
    return {"type": "Adam", "lr": train.lr, "weight_decay": train.weight_decay}


def _model_wrapper(cls, launcher: str) -> dict | None:
    """DDP wrapper config: mmengine's default unless the method or the device needs another.

    mmengine's DDP bypasses a model's own ``train_step``; methods with several
    optimizers (which override it) need the wrapper that calls it. mmengine also
    passes device_ids=[local rank], which DDP refuses for CPU modules.
    """
    if launcher == "none":
        return None
    separate = cls.train_step is not UDAMethod.train_step
    if not separate and torch.cuda.is_available():
        return None
    cfg = {"type": "MMSeparateDistributedDataParallel" if separate
           else "MMDistributedDataParallel", "broadcast_buffers": False}
    if not torch.cuda.is_available() and not separate:
        cfg["device_ids"] = None
    return cfg


def effective_amp(requested: str) -> str:
    """AMP needs CUDA; on CPU the run is fp32 and the record says so."""
    return requested if requested != "none" and torch.cuda.is_available() else "none"


def compile_config(
    spec: RunSpec,
    work_dir: Path | None = None,
    data_root: Path | None = None,
    launcher: str = "none",
    resume: bool = False,
    quiet: bool = False,
) -> Config:
    from harness.data.classes import get_classes, subset_indices

    p = spec.protocol
    cls = method_class(spec.method)
    data_root = default_data_root(data_root)
    classes = get_classes(p.classes)
    subsets = {s: subset_indices(s, p.classes) for s in p.report_subsets if s != "all"}
    train = p.train
    amp = effective_amp(train.amp)

    work_dir = Path(work_dir or default_work_dir(spec))
    pseudo_maps = p.task == "segmentation" and getattr(cls, "pseudo_label_maps", False)

    def loader(domain, split, train_mode, labels=True):
        pipeline = None
        if p.task == "segmentation":
            pipeline = train_pipeline(train) if train_mode else test_pipeline(p.eval)
        pseudo = (work_dir / "pseudo_labels" if pseudo_maps and train_mode
                  and domain is p.target and not labels else None)
        return _loader(
            _dataset(domain, split, data_root, labels, pipeline, test=not train_mode,
                     pseudo_root=pseudo),
            train.batch if train_mode else p.eval.batch,
            # Training loaders always use worker processes: mmengine seeds each worker
            # from the run's seed whenever the iterator starts, so augmentation draws
            # are replayed exactly when --resume skips the batches already seen (in the
            # main process they would consume the RNG state the checkpoint restored).
            max(train.workers, 1) if train_mode else train.workers, train_mode,
        )

    optim_wrapper = {
        "type": "AmpOptimWrapper" if amp != "none" else "OptimWrapper",
        "optimizer": _optimizer(train),
        "paramwise_cfg": {"custom_keys": {"net.head": {"lr_mult": train.head_lr_mult}}},
    }
    if amp != "none":
        optim_wrapper["dtype"] = {"fp16": "float16", "bf16": "bfloat16"}[amp]
    optim_wrapper = cls.optim_wrapper_cfg(optim_wrapper, cls.HParams(**spec.hparams))
    schedulers = []
    if train.schedule == "poly":
        schedulers.append({"type": "PolyLR", "eta_min": 0.0, "power": train.poly_power,
                           "begin": 0, "end": train.iters, "by_epoch": False})
    # Only the domains the method trains on are loaded; target labels are dropped
    # unless the method is declared to use them.
    train_loaders = {
        d: loader(getattr(p, d), getattr(p, d).train_split, True,
                  labels=d == "source" or cls.uses_target_labels)
        for d in cls.train_domains
    }
    first, *rest = cls.train_domains
    custom_hooks = [{"type": "RngStateHook"}]
    if hasattr(cls, "on_round_start"):
        custom_hooks.append({"type": "RoundsHook"})
    if not quiet:
        custom_hooks.append({"type": "RichProgressHook"})
    cfg = {
        "default_scope": "harness",
        "work_dir": str(work_dir),
        "experiment_name": f"{p.name}-{spec.method}-{spec.backbone}-s{spec.seed}",
        "model": {
            "type": f"methods.{spec.method}",
            "backbone": {"type": spec.backbone, "num_classes": len(classes.names),
                         **spec.model_options},
            "hparams": spec.hparams,
            "align_corners": p.eval.align_corners,
            "source_checkpoint": str(source_model_path(spec)) if cls.needs_source_model
            else None,
        },
        "train_dataloader": train_loaders[first],
        "train_cfg": {
            "type": "UDATrainLoop",
            "max_iters": train.iters,
            "domain": first,
            "extra_dataloaders": {d: train_loaders[d] for d in rest},
            # One evaluation, after the last iteration: the selection rule is "last".
            "val_begin": train.iters,
            "val_interval": train.iters,
        },
        "val_dataloader": loader(p.target, p.target.test_split, False),
        "val_cfg": {
            "type": "DomainsValLoop",
            "source_dataloader": loader(p.source, p.source.test_split, False),
            "fp16": amp == "fp16",
            "target_label_size": p.eval.size,
        },
        "val_evaluator": {"type": "ConfusionMetric", "class_names": list(classes.names),
                          "subsets": subsets},
        "optim_wrapper": optim_wrapper,
        "param_scheduler": schedulers,
        "default_hooks": {
            "runtime_info": {"type": "RuntimeInfoHook"},
            "timer": {"type": "IterTimerHook"},
            "logger": {"type": "LoggerHook", "interval": train.log_interval},
            "param_scheduler": {"type": "ParamSchedulerHook"},
            "checkpoint": {"type": "CheckpointHook", "interval": train.checkpoint_interval,
                           "by_epoch": False, "max_keep_ckpts": 2, "save_last": True},
            "sampler_seed": {"type": "DistSamplerSeedHook"},
        },
        "custom_hooks": custom_hooks,
        "log_processor": {"by_epoch": False},
        "randomness": {"seed": spec.seed},
        "env_cfg": {
            "cudnn_benchmark": False,
            "mp_cfg": {"mp_start_method": "fork", "opencv_num_threads": 0},
            "dist_cfg": {"backend": "nccl" if torch.cuda.is_available() else "gloo"},
        },
        "launcher": launcher,
        # mmengine converts BatchNorm to torch's SyncBatchNorm when running distributed.
        "sync_bn": "torch" if train.sync_bn else None,
        "model_wrapper_cfg": _model_wrapper(cls, launcher),
        "resume": resume,
        "log_level": "WARNING",
    }
    return Config(cfg)

