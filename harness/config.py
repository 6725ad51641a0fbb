"""A :class:`~harness.plan.RunPlan` -> the mmengine Config that Runner runs (only that).

Users never write mmengine configs: everything a run does is derived here from
the plan (the protocol file, the method's declarations and HParams), and
``harness run --dump-config`` prints the result.
"""

from pathlib import Path

import torch
from mmengine.config import Config

from harness import selection
from harness.checkpoints import ATOMIC_BACKEND
from harness.data.in_memory import in_memory
from harness.paths import SELECTED_NAME
from harness.plan import RunPlan


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


def training_workers(dataset_type: str, workers: int) -> int:
    """Worker processes of a training loader.

    Training loaders use worker processes unless their items come from memory without
    randomness: mmengine seeds each worker from the run's seed whenever the iterator
    starts, so augmentation draws are replayed exactly when --resume skips the batches
    already seen (in the main process they would consume the RNG state the checkpoint
    restored).
    """
    return workers if in_memory(dataset_type) else max(workers, 1)


def _optimizer(train) -> dict:
    if train.optimizer == "sgd":
        return {"type": "SGD", "lr": train.lr, "momentum": train.momentum,
                "weight_decay": train.weight_decay}
    return {"type": "Adam", "lr": train.lr, "weight_decay": train.weight_decay}


def _model_wrapper(plan: RunPlan) -> dict | None:
    """DDP wrapper config: mmengine's default unless the method or the device needs another.

    mmengine's DDP bypasses a model's own ``train_step``; methods with several
    optimizers (which override it) need the wrapper that calls it. mmengine also
    passes device_ids=[local rank], which DDP refuses for CPU modules.
    """
    if plan.launcher == "none":
        return None
    separate = plan.method_cls.multi_optimizer
    if not separate and torch.cuda.is_available():
        return None
    cfg = {"type": "MMSeparateDistributedDataParallel" if separate
           else "MMDistributedDataParallel", "broadcast_buffers": False}
    if not torch.cuda.is_available() and not separate:
        cfg["device_ids"] = None
    return cfg


def _held_out(dataset: dict, sel, part: str) -> dict:
    """The source training split without (``kept``) or only (``held``) its validation part."""
    return {"type": "SeededSplit", "dataset": dataset, "part": part,
            "seed": sel.source_val_seed, "fraction": sel.source_val_fraction}


def _val_cfg(plan: RunPlan, loader) -> dict:
    """The evaluation loop: test splits, source validation, validators, selection."""
    p = plan.protocol
    sel = p.selection
    seg = p.task == "segmentation"
    validators, source_val = selection.usable(p, plan.method_cls.source_free)
    cfg = {
        "type": "DomainsValLoop",
        "source_dataloader": loader(p.source, p.source.test_split, False),
        "fp16": plan.amp == "fp16",
        "target_label_size": p.eval.size,
        "validators": validators,
        "selection": {
            "rule": sel.rule, "rules": selection.rule_names(p, plan.method_cls.source_free),
            "task": p.task,
            "subsets": list(p.report_subsets),
            "higher_is_better": {v: selection.higher_is_better(v) for v in validators},
            "pixels_per_image": sel.pixels_per_image, "seed": sel.target_val_seed,
            "selected_path": str(plan.work_dir / SELECTED_NAME),
        },
    }
    pipeline = test_pipeline(p.eval) if seg else None
    if source_val:
        held = _held_out(_dataset(p.source, p.source.train_split, plan.data_root, True,
                                  pipeline), sel, "held")
        cfg["source_val_dataloader"] = _loader(held, p.eval.batch, p.train.workers, False)
    if validators:
        target = _dataset(p.target, p.target.train_split, plan.data_root, True, pipeline)
        if sel.target_val_size is not None:
            target = {"type": "SeededSplit", "dataset": target, "part": "held",
                      "seed": sel.target_val_seed, "size": sel.target_val_size}
        # Validators never see target labels: the unlabeled view, as training has it.
        cfg["target_val_dataloader"] = _loader(
            {"type": "WithoutLabels", "dataset": target}, p.eval.batch, p.train.workers, False)
    return cfg


def _rounds_hook(plan: RunPlan, rounds: int, artifacts: Path) -> dict:
    """Round-based methods: the unaugmented training splits their rounds may read."""
    p = plan.protocol
    seg = p.task == "segmentation"
    datasets = {"target": _dataset(p.target, p.target.train_split, plan.data_root, labels=False,
                                   pipeline=test_pipeline(p.eval) if seg else None)}
    if not plan.method_cls.source_free:  # never even configured: a provably source-free run
        datasets["source"] = _dataset(p.source, p.source.train_split, plan.data_root,
                                      labels=True, pipeline=[] if seg else None)
    return {"type": "RoundsHook", "rounds": rounds, "artifacts": str(artifacts),
            "datasets": datasets}


def compile_config(plan: RunPlan) -> Config:
    p, cls = plan.protocol, plan.method_cls
    train = p.train
    work_dir = plan.work_dir
    artifacts = work_dir / "artifacts"
    pseudo_maps = p.task == "segmentation" and cls.pseudo_label_maps

    def loader(domain, split, train_mode, labels=True):
        pipeline = None
        if p.task == "segmentation":
            pipeline = train_pipeline(train) if train_mode else test_pipeline(p.eval)
        pseudo = (artifacts if pseudo_maps and train_mode
                  and domain is p.target and not labels else None)
        return _loader(
            _dataset(domain, split, plan.data_root, labels, pipeline, test=not train_mode,
                     pseudo_root=pseudo),
            train.batch if train_mode else p.eval.batch,
            training_workers(domain.dataset, train.workers) if train_mode else train.workers,
            train_mode,
        )

    optim_wrapper = {
        "type": "AmpOptimWrapper" if plan.amp != "none" else "FiniteOptimWrapper",
        "optimizer": _optimizer(train),
        "paramwise_cfg": {"custom_keys": {"net.head": {"lr_mult": train.head_lr_mult}}},
    }
    if plan.amp != "none":
        optim_wrapper["dtype"] = {"fp16": "float16", "bf16": "bfloat16"}[plan.amp]
    optim_wrapper = cls.optim_wrapper_cfg(optim_wrapper, plan.hparams)
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
    if "source" in train_loaders and p.selection.source_val_fraction is not None:
        source = train_loaders["source"]
        source["dataset"] = _held_out(source["dataset"], p.selection, "kept")
    first, *rest = cls.train_domains
    points = selection.eval_iters(p)
    custom_hooks = [{"type": "RngStateHook"}, {"type": "EvalPointsHook"},
                    {"type": "CheckpointGuardHook", "run": plan.identity}]
    rounds = cls.rounds(plan.hparams)
    if rounds:
        custom_hooks.append(_rounds_hook(plan, rounds, artifacts))
    if not plan.quiet:
        custom_hooks.append({"type": "RichProgressHook"})
    cfg = {
        "default_scope": "harness",
        "work_dir": str(work_dir),
        "experiment_name": f"{p.name}-{plan.method}-{plan.backbone}-s{plan.seed}",
        "model": {
            "type": f"methods.{plan.method}",
            "backbone": {"type": plan.backbone, "num_classes": len(plan.classes.names),
                         **plan.model_options},
            "hparams": plan.hparams_dict,
            "align_corners": p.eval.align_corners,
            "source_checkpoint": str(plan.source_cache) if cls.needs_source_model else None,
        },
        "train_dataloader": train_loaders[first],
        "train_cfg": {
            "type": "UDATrainLoop",
            "max_iters": train.iters,
            "domain": first,
            "extra_dataloaders": {d: train_loaders[d] for d in rest},
            # Evaluation points (mmengine also evaluates after the last iteration).
            "val_begin": points[0],
            "val_interval": points[0],
        },
        "val_dataloader": loader(p.target, p.target.test_split, False),
        "val_cfg": _val_cfg(plan, loader),
        "val_evaluator": {"type": "ConfusionMetric", "class_names": list(plan.classes.names),
                          "subsets": plan.subsets},
        "optim_wrapper": optim_wrapper,
        "param_scheduler": schedulers,
        "default_hooks": {
            "runtime_info": {"type": "RuntimeInfoHook"},
            "timer": {"type": "IterTimerHook"},
            "logger": {"type": "LoggerHook", "interval": train.log_interval},
            "param_scheduler": {"type": "ParamSchedulerHook"},
            "checkpoint": {"type": "CheckpointHook", "interval": train.checkpoint_interval,
                           "by_epoch": False, "max_keep_ckpts": 2, "save_last": True,
                           "backend_args": {"backend": ATOMIC_BACKEND}},
            "sampler_seed": {"type": "DistSamplerSeedHook"},
        },
        "custom_hooks": custom_hooks,
        "log_processor": {"by_epoch": False},
        "randomness": {"seed": plan.seed},
        "env_cfg": {
            "cudnn_benchmark": False,
            "mp_cfg": {"mp_start_method": "fork", "opencv_num_threads": 0},
            "dist_cfg": {"backend": "nccl" if torch.cuda.is_available() else "gloo"},
        },
        "launcher": plan.launcher,
        # mmengine converts BatchNorm to torch's SyncBatchNorm when running distributed.
        "sync_bn": "torch" if train.sync_bn else None,
        "model_wrapper_cfg": _model_wrapper(plan),
        "resume": plan.resume,
        "log_level": "WARNING",
    }
    # mmengine formats the config's text with yapf for the run's log, the copy in the work
    # dir and every checkpoint's metadata: about a second of the embedded default run.
    # Unformatted it is the same Python (it loads back to the same content: tested);
    # `harness run --dump-config` formats it for reading.
    return Config(cfg, format_python_code=False)
