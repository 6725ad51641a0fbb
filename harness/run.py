"""One run: compile, train and evaluate with mmengine's Runner, then write the record."""

import dataclasses
import time
from datetime import UTC, datetime
from pathlib import Path

from harness.checkpoints import FINAL_NAME, save_final
from harness.compile import (
    RunSpec,
    compile_config,
    effective_amp,
    method_class,
    source_model_path,
)
from harness.provenance import code_version, device_info, package_versions
from harness.results import RunRecord, finalize, write_record
from harness.utils import unwrap


def _fingerprint(dataset) -> str | None:
    return dataset.fingerprint() if hasattr(dataset, "fingerprint") else None


def execute(
    spec: RunSpec,
    results_dir: Path,
    work_dir: Path | None = None,
    data_root: Path | None = None,
    launcher: str = "none",
    resume: bool = False,
    quiet: bool = False,
) -> tuple[RunRecord, Path | None]:
    """Train and evaluate; returns the record and where rank 0 wrote it."""
    if method_class(spec.method).needs_source_model:
        ensure_source_model(spec, data_root, launcher, quiet)
    cfg = compile_config(spec, work_dir, data_root, launcher, resume, quiet)
    return train_and_record(cfg, spec, results_dir)


def _source_model(spec: RunSpec) -> dict:
    """Which cached source-only run a method started from (its record's run id)."""
    import torch

    path = source_model_path(spec)
    meta = torch.load(path, map_location="cpu", weights_only=True)["meta"]
    # The cache key, not the machine's path: records are shared.
    return {"cache_key": f"{path.parent.parent.name}/{path.parent.name}",
            "run_id": meta.get("run_id"), "from": meta.get("method")}


def save_pretrained_source(spec: RunSpec, path: Path) -> None:
    """The backbone as its pretrained weights make it: no training on the source."""
    import torch
    from mmengine.registry import DefaultScope

    from harness.data.classes import get_classes
    from harness.registry import MODELS

    if "pretrained" not in spec.model_options:
        raise ValueError(
            f"{spec.protocol.name} takes its source model from pretrained weights: pass "
            "--set model.init=PATH (a local weights file for the backbone)"
        )
    holder = torch.nn.Module()
    with DefaultScope.overwrite_default_scope("harness"):
        holder.net = MODELS.build({"type": spec.backbone, **spec.model_options,
                                   "num_classes": len(get_classes(spec.protocol.classes).names)})
    save_final(holder, path, {"method": "pretrained", "backbone": spec.backbone,
                              "pretrained": str(spec.model_options["pretrained"]),
                              "run_id": None})


def ensure_source_model(spec: RunSpec, data_root, launcher: str, quiet: bool) -> Path:
    """Train the source-only model once per (protocol source part, backbone, seed)."""
    path = source_model_path(spec)
    if not path.is_file() and spec.protocol.source_model == "pretrained":
        save_pretrained_source(spec, path)
    elif not path.is_file():
        source = dataclasses.replace(spec, method="source_only", hparams={}, overrides={})
        cfg = compile_config(source, path.parent, data_root, launcher, resume=True, quiet=quiet)
        train_and_record(cfg, source, path.parent / "records")
    return path


def train_and_record(cfg, spec: RunSpec, results_dir: Path) -> tuple[RunRecord, Path | None]:
    """Run a compiled config; the record is written only after training and evaluation end."""
    from mmengine.runner import Runner

    from harness.data.classes import get_classes

    runner = Runner.from_cfg(cfg)
    start = time.perf_counter()
    model = runner.train()
    wall = time.perf_counter() - start
    val = runner.val_loop
    p = spec.protocol
    cls = method_class(spec.method)
    classes = get_classes(p.classes)
    net = unwrap(model).net
    loaders = {"source_test": val.loaders["source"], "target_test": val.loaders["target"]}
    record = finalize({
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "protocol": {"name": p.name, "task": p.task, "hash": spec.file_hash,
                     "effective_hash": p.hash, "overrides": spec.overrides,
                     "variant_of": p.variant_of, "target_labels": p.target_labels},
        "method": {"name": spec.method, "hparams": spec.hparams,
                   "uses_target_labels": cls.uses_target_labels,
                   "train_domains": list(cls.train_domains),
                   "source_model": _source_model(spec) if cls.needs_source_model else None},
        "backbone": {"name": spec.backbone, "options": spec.model_options,
                     "params": sum(t.numel() for t in net.parameters())},
        "seed": spec.seed,
        "code": code_version(),
        "packages": package_versions(),
        "device": device_info(runner.world_size, effective_amp(p.train.amp)),
        "data": {name: {"n": len(loader.dataset), "fingerprint": _fingerprint(loader.dataset)}
                 for name, loader in loaders.items()},
        "classes": {"name": classes.name, "version": classes.version,
                    "fingerprint": classes.fingerprint, "subsets": list(p.report_subsets)},
        "selection": {"rule": p.selection.rule, "iter": runner.iter,
                      "uses_target_labels": p.selection.rule == "oracle"},
        "train": {"iters": runner.iter, "wall_time_s": round(wall, 3),
                  "config": p.train.model_dump(mode="json")},
        "metrics": val.domain_metrics(),
    })
    if runner.rank == 0:
        meta = {"protocol": p.name, "protocol_hash": p.hash, "method": spec.method,
                "backbone": spec.backbone, "num_classes": len(classes.names),
                "run_id": record.run_id}
        final = save_final(unwrap(model), Path(cfg.work_dir) / FINAL_NAME, meta)
        cache = source_model_path(spec)
        if spec.method == "source_only" and not spec.hparams and final != cache:
            # A plain source-only run is exactly what the cache holds: reuse it.
            save_final(unwrap(model), cache, meta)
        return record, write_record(record, results_dir)
    return record, None
