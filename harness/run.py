"""One run: train and evaluate a plan's config with mmengine's Runner, then write the record."""

import time
from datetime import UTC, datetime
from pathlib import Path

from harness.checkpoints import (
    final_meta_and_digest,
    install_safe_loading,
    resume_checkpoint,
    save_final,
    weights_digest,
    weights_source,
)
from harness.config import compile_config
from harness.data.presence import require_dataset_folders
from harness.outputs import cache_entry_lock, check_writable, work_dir_lock
from harness.paths import FINAL_NAME, cache_entry_name
from harness.pictures import digests, encode_pictures, write_pictures
from harness.plan import PlanError, RunPlan
from harness.provenance import code_version, device_info, package_versions, peak_memory
from harness.record_samples import encode_for_record, write_run
from harness.results import RunRecord, finalize
from harness.source_free import explain_missing_source
from harness.utils import unwrap


def execute(plan: RunPlan) -> tuple[RunRecord, Path | None]:
    """Train and evaluate; returns the record and where rank 0 wrote it."""
    source_free = plan.method_cls.source_free
    require_dataset_folders(plan, ("target",) if source_free else ("source", "target"))
    outputs = {"--work-dir": plan.work_dir, "--results-dir": plan.results_dir}
    if plan.method_cls.needs_source_model:
        outputs["the source-model cache ($HARNESS_CACHE)"] = plan.source_cache.parent
    check_writable(outputs)
    if plan.method_cls.needs_source_model:
        ensure_source_model(plan)
    if source_free:  # after the cache: without source data its error names the command
        require_dataset_folders(plan, ("source",))  # the source test split, for evaluation
    return train_and_record(plan)


def _source_model(plan: RunPlan) -> dict:
    """Which cached source-only run a method started from (its record's run id)."""
    meta, digest = final_meta_and_digest(plan.source_cache)
    # The cache key, not the machine's path: records are shared.
    return {"cache_key": cache_entry_name(plan.source_cache),
            "run_id": meta.get("run_id"), "from": meta.get("method"),
            "weights_sha256": digest}


def save_pretrained_source(plan: RunPlan) -> None:
    """The backbone as its pretrained weights make it: no training on the source."""
    import torch
    from mmengine.registry import DefaultScope

    from harness.registry import MODELS

    if "pretrained" not in plan.model_options:
        raise PlanError(
            f"{plan.protocol.name} takes its source model from pretrained weights: pass "
            "--set model.init=PATH (a local weights file for the backbone)"
        )
    holder = torch.nn.Module()
    with DefaultScope.overwrite_default_scope("harness"):
        holder.net = MODELS.build({"type": plan.backbone, **plan.model_options,
                                   "num_classes": len(plan.classes.names)})
    save_final(holder, plan.source_cache, {
        "method": "pretrained", "backbone": plan.backbone,
        "pretrained": str(plan.model_options["pretrained"]), "run_id": None})


def ensure_source_model(plan: RunPlan) -> Path:
    """Train the source-only model once per (protocol source part, backbone, seed)."""
    path = plan.source_cache
    with cache_entry_lock(path.parent):
        if not path.is_file() and plan.protocol.source_model == "pretrained":
            save_pretrained_source(plan)
        elif not path.is_file():
            with explain_missing_source(plan):
                train_and_record(plan.for_source_model())
    return path


def _fingerprint(dataset) -> str | None:
    return dataset.fingerprint() if hasattr(dataset, "fingerprint") else None


def protocol_identity(plan: RunPlan) -> dict:
    """The record's ``protocol`` entry."""
    p = plan.protocol
    return {"name": p.name, "task": p.task, "hash": plan.file_hash, "effective_hash": p.hash,
            "overrides": plan.overrides, "variant_of": p.variant_of,
            "target_labels": p.target_labels}


def class_set(plan: RunPlan) -> dict:
    """The record's ``classes`` entry."""
    return {"name": plan.classes.name, "version": plan.classes.version,
            "fingerprint": plan.classes.fingerprint,
            "subsets": list(plan.protocol.report_subsets)}


def fingerprints(loaders: dict) -> dict:
    """The record's ``data`` entry: split name -> size and fingerprint of its dataset."""
    return {name: {"n": len(loader.dataset), "fingerprint": _fingerprint(loader.dataset)}
            for name, loader in loaders.items()}


def train_and_record(plan: RunPlan, extra_hooks: tuple[dict, ...] = ()
                     ) -> tuple[RunRecord, Path | None]:
    """Run a plan; the record is written only after training and evaluation end.

    ``extra_hooks``: mmengine hook configs added to the run (tests interrupt runs with them).
    """
    with work_dir_lock(plan.work_dir):
        return _train_and_record(plan, extra_hooks)


def _train_and_record(plan: RunPlan, extra_hooks: tuple[dict, ...]
                      ) -> tuple[RunRecord, Path | None]:
    from mmengine.runner import Runner

    install_safe_loading()
    code = code_version()  # the code that trains, not what the checkout holds at the end
    cfg = compile_config(plan)
    cfg.custom_hooks.extend(extra_hooks)
    if plan.resume:  # the checkpoint is chosen and checked here, not by mmengine
        found = resume_checkpoint(plan.work_dir, plan.identity)
        cfg.resume = found is not None
        cfg.load_from = str(found) if found else None
    runner = Runner.from_cfg(cfg)
    start = time.perf_counter()
    model = runner.train()
    wall = time.perf_counter() - start
    # A run resumed from its last iteration evaluated in EvalPointsHook.before_train.
    val = runner.val_loop
    p, cls = plan.protocol, plan.method_cls
    net = unwrap(model).net
    pictures = encode_pictures(unwrap(model).pictures(), plan.method)
    loaders = {"source_test": val.loaders["source"], "target_test": val.loaders["target"]}
    if "source_val" in val.loaders:
        loaders["source_val"] = val.loaders["source_val"]
    if val.target_val is not None:
        loaders["target_val"] = val.target_val
    picks = val.picks()
    blob, samples = encode_for_record(val.selected_samples())
    record = finalize({
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "protocol": protocol_identity(plan),
        "method": {"name": plan.method, "hparams": plan.hparams_dict,
                   "uses_target_labels": cls.uses_target_labels,
                   "train_domains": list(cls.train_domains),
                   "source_model": _source_model(plan) if cls.needs_source_model else None,
                   "source_free": cls.source_free,
                   "loaded_weights": {part: weights_source(path) for part, path
                                      in cls.weights_from(plan.hparams).items()}},
        "backbone": {"name": plan.backbone, "options": plan.model_options,
                     "params": sum(t.numel() for t in net.parameters())},
        "seed": plan.seed,
        "code": code,
        "packages": package_versions(),
        "device": device_info(runner.world_size, plan.amp),
        "data": fingerprints(loaders),
        "classes": class_set(plan),
        "selection": {"rule": p.selection.rule, "iter": picks[p.selection.rule],
                      "uses_target_labels": p.selection.rule == "oracle", "picks": picks},
        "train": {"iters": runner.iter, "wall_time_s": round(wall, 3), **peak_memory(),
                  "weights_sha256": weights_digest(unwrap(model).state_dict()),
                  "config": p.train.model_dump(mode="json")},
        "metrics": val.domain_metrics(),
        "evaluations": val.points,
        "samples": samples,
        "pictures": digests(pictures),
    })
    if runner.rank == 0:
        meta = {"protocol": p.name, "protocol_hash": p.hash, "method": plan.method,
                "backbone": plan.backbone, "num_classes": len(plan.classes.names),
                "run_id": record.run_id}
        final = save_final(unwrap(model), plan.work_dir / FINAL_NAME, meta)
        if (plan.method == "source_only" and not plan.hparams_dict
                and plan.protocol.hash == plan.source_protocol.hash
                and final != plan.source_cache):
            # A plain source-only run is exactly what the cache holds: reuse it.
            save_final(unwrap(model), plan.source_cache, meta)
        path = write_run(record, plan.results_dir, blob)
        write_pictures(pictures, plan.work_dir, path)
        return record, path
    return record, None
