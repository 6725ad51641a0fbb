"""One run: train and evaluate a plan's config with mmengine's Runner, then write the record."""

import time
from datetime import UTC, datetime
from pathlib import Path

from harness.checkpoints import load_final_meta, save_final
from harness.config import compile_config
from harness.paths import FINAL_NAME, cache_entry_name
from harness.pictures import digests, encode_pictures, write_pictures
from harness.plan import PlanError, RunPlan
from harness.provenance import code_version, device_info, package_versions
from harness.results import RunRecord, finalize, write_record
from harness.source_free import explain_missing_source
from harness.utils import unwrap


def execute(plan: RunPlan) -> tuple[RunRecord, Path | None]:
    """Train and evaluate; returns the record and where rank 0 wrote it."""
    if plan.method_cls.needs_source_model:
        ensure_source_model(plan)
    return train_and_record(plan)


def _source_model(plan: RunPlan) -> dict:
    """Which cached source-only run a method started from (its record's run id)."""
    meta = load_final_meta(plan.source_cache)
    # The cache key, not the machine's path: records are shared.
    return {"cache_key": cache_entry_name(plan.source_cache),
            "run_id": meta.get("run_id"), "from": meta.get("method")}


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
    if not path.is_file() and plan.protocol.source_model == "pretrained":
        save_pretrained_source(plan)
    elif not path.is_file():
        with explain_missing_source(plan):
            train_and_record(plan.for_source_model())
    return path


def _fingerprint(dataset) -> str | None:
    return dataset.fingerprint() if hasattr(dataset, "fingerprint") else None


def train_and_record(plan: RunPlan, extra_hooks: tuple[dict, ...] = ()
                     ) -> tuple[RunRecord, Path | None]:
    """Run a plan; the record is written only after training and evaluation end.

    ``extra_hooks``: mmengine hook configs added to the run (tests interrupt runs with them).
    """
    from mmengine.runner import Runner

    cfg = compile_config(plan)
    cfg.custom_hooks.extend(extra_hooks)
    runner = Runner.from_cfg(cfg)
    start = time.perf_counter()
    model = runner.train()
    wall = time.perf_counter() - start
    val = runner.val_loop
    p, cls = plan.protocol, plan.method_cls
    net = unwrap(model).net
    pictures = encode_pictures(unwrap(model).pictures(), plan.method)
    loaders = {"source_test": val.loaders["source"], "target_test": val.loaders["target"]}
    record = finalize({
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "protocol": {"name": p.name, "task": p.task, "hash": plan.file_hash,
                     "effective_hash": p.hash, "overrides": plan.overrides,
                     "variant_of": p.variant_of, "target_labels": p.target_labels},
        "method": {"name": plan.method, "hparams": plan.hparams_dict,
                   "uses_target_labels": cls.uses_target_labels,
                   "train_domains": list(cls.train_domains),
                   "source_model": _source_model(plan) if cls.needs_source_model else None,
                   "source_free": cls.source_free},
        "backbone": {"name": plan.backbone, "options": plan.model_options,
                     "params": sum(t.numel() for t in net.parameters())},
        "seed": plan.seed,
        "code": code_version(),
        "packages": package_versions(),
        "device": device_info(runner.world_size, plan.amp),
        "data": {name: {"n": len(loader.dataset), "fingerprint": _fingerprint(loader.dataset)}
                 for name, loader in loaders.items()},
        "classes": {"name": plan.classes.name, "version": plan.classes.version,
                    "fingerprint": plan.classes.fingerprint, "subsets": list(p.report_subsets)},
        "selection": {"rule": p.selection.rule, "iter": runner.iter,
                      "uses_target_labels": p.selection.rule == "oracle"},
        "train": {"iters": runner.iter, "wall_time_s": round(wall, 3),
                  "config": p.train.model_dump(mode="json")},
        "metrics": val.domain_metrics(),
        "pictures": digests(pictures),
    })
    if runner.rank == 0:
        meta = {"protocol": p.name, "protocol_hash": p.hash, "method": plan.method,
                "backbone": plan.backbone, "num_classes": len(plan.classes.names),
                "run_id": record.run_id}
        final = save_final(unwrap(model), plan.work_dir / FINAL_NAME, meta)
        if plan.method == "source_only" and not plan.hparams_dict and final != plan.source_cache:
            # A plain source-only run is exactly what the cache holds: reuse it.
            save_final(unwrap(model), plan.source_cache, meta)
        path = write_record(record, plan.results_dir)
        write_pictures(pictures, plan.work_dir, path)
        return record, path
    return record, None
