"""The UDA loops: source and target batches side by side; evaluation on both domains."""

import copy

import torch
from mmengine.runner import BaseLoop, IterBasedTrainLoop
from mmengine.runner.amp import autocast
from mmengine.runner.loops import _InfiniteDataloaderIterator

from harness.errors import DataError
from harness.registry import LOOPS


class _PairedIterator:
    """``next()`` gives ``dict(source=batch, target=batch)`` from infinite iterators.

    Only the domains the method trains on are drawn, so an oracle never loads
    source images and a source-only run never loads target images.
    """

    def __init__(self, iterators: dict):
        self.iterators = iterators

    def __next__(self) -> dict:
        return {name: next(it) for name, it in self.iterators.items()}


@LOOPS.register_module()
class UDATrainLoop(IterBasedTrainLoop):
    """mmengine's iteration loop over paired batches.

    ``dataloader`` is the training split of ``domain`` (mmengine needs one main
    loader); ``extra_dataloaders`` the other domains the method trains on.
    Resuming skips the same number of batches in every loader, so a resumed run
    sees exactly the data of an uninterrupted one.
    """

    def __init__(self, runner, dataloader, max_iters, domain="source", extra_dataloaders=None,
                 **kwargs):
        super().__init__(runner, dataloader, max_iters=max_iters, **kwargs)
        iterators = {domain: self.dataloader_iterator}
        #: Training loaders by domain (self-training methods predict over the target's).
        self.loaders = {domain: self.dataloader}
        diff_rank_seed = runner._randomness_cfg.get("diff_rank_seed", False)
        for name, cfg in (extra_dataloaders or {}).items():
            loader = runner.build_dataloader(cfg, seed=runner.seed, diff_rank_seed=diff_rank_seed)
            self.loaders[name] = loader
            iterators[name] = _InfiniteDataloaderIterator(loader)
        self.dataloader_iterator = _PairedIterator(iterators)


@LOOPS.register_module()
class DomainsValLoop(BaseLoop):
    """Evaluates the target test split and the source test split on every call.

    Metrics come back prefixed ``target/`` and ``source/``; the full confusion
    matrices and derived reports stay on ``self.reports`` for the result record.
    """

    def __init__(self, runner, dataloader, evaluator, source_dataloader, fp16: bool = False,
                 target_label_size: tuple[int, int] | None = None):
        super().__init__(runner, dataloader)
        #: (width, height) the protocol evaluates the target at; labels of another
        #: size mean the data was resized and the numbers would not be comparable.
        self.target_label_size = tuple(target_label_size) if target_label_size else None
        self.loaders = {"target": self.dataloader}
        #: Built at the first evaluation, never before training: a source-free run
        #: constructs no source dataset while it adapts (harness.source_free).
        self.source_dataloader = source_dataloader
        self.evaluators = {}
        for domain in ("target", "source"):
            cfg = copy.deepcopy(evaluator)
            cfg["prefix"] = domain
            self.evaluators[domain] = runner.build_evaluator(cfg)
        self.fp16 = fp16
        self.reports: dict[str, dict] = {}

    def run(self) -> dict:
        if "source" not in self.loaders:
            self.loaders["source"] = self.runner.build_dataloader(self.source_dataloader,
                                                                  seed=self.runner.seed)
        self.runner.call_hook("before_val")
        self.runner.call_hook("before_val_epoch")
        self.runner.model.eval()
        metrics = {}
        for domain, loader in self.loaders.items():
            evaluator = self.evaluators[domain]
            for idx, batch in enumerate(loader):
                if domain == "target":
                    self._check_label_size(batch)
                self.runner.call_hook("before_val_iter", batch_idx=idx, data_batch=batch)
                with torch.no_grad(), autocast(enabled=self.fp16):
                    outputs = self.runner.model.val_step(batch)
                evaluator.process(data_samples=outputs, data_batch=batch)
                self.runner.call_hook(
                    "after_val_iter", batch_idx=idx, data_batch=batch, outputs=outputs
                )
            metrics.update(evaluator.evaluate(len(loader.dataset)))
            metric = evaluator.metrics[0]
            self.reports[domain] = {"matrix": metric.last_matrix, "report": metric.last_report,
                                    "variants": metric.last_variants}
        self.runner.call_hook("after_val_epoch", metrics=metrics)
        self.runner.call_hook("after_val")
        return metrics

    def domain_metrics(self) -> dict[str, dict]:
        """Per domain: every derived metric plus the confusion matrix, as records store them."""
        return {d: {**r["report"], "confusion": r["matrix"].tolist(), "variants": r["variants"]}
                for d, r in self.reports.items()}

    def _check_label_size(self, batch: dict) -> None:
        if self.target_label_size is None:
            return
        height, width = batch["label"].shape[-2:]
        if (width, height) != self.target_label_size:
            path = batch.get("meta", {}).get("label_path", ["?"])[0]
            raise DataError(
                f"{path}: target label is {width}x{height} but the protocol evaluates at "
                f"{self.target_label_size[0]}x{self.target_label_size[1]}; evaluate on the "
                "labels at their full resolution (logits are upsampled to them), or fix eval.size"
            )
