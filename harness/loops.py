"""The UDA loops: source and target batches side by side; evaluation on both domains."""

import copy
from pathlib import Path

import torch
from mmengine.runner import BaseLoop, IterBasedTrainLoop
from mmengine.runner.amp import autocast

from harness import rng, selection
from harness.checkpoints import save_final
from harness.errors import DataError
from harness.evaluation import validate
from harness.mmengine_private import diff_rank_seed, infinite_iterator
from harness.per_sample import PerImage
from harness.registry import LOOPS
from harness.utils import unwrap


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
        for name, cfg in (extra_dataloaders or {}).items():
            loader = runner.build_dataloader(cfg, seed=runner.seed,
                                             diff_rank_seed=diff_rank_seed(runner))
            self.loaders[name] = loader
            iterators[name] = infinite_iterator(loader)
        self.dataloader_iterator = _PairedIterator(iterators)


@LOOPS.register_module()
class DomainsValLoop(BaseLoop):
    """One evaluation point: the target test split, the source test split, the held-out
    source validation split and the validators on unlabeled target training data.

    Every call appends a point (iteration, metrics with confusion matrices, validator
    scores) to ``self.points``; model selection reads them after the run
    (:mod:`harness.selection`). The global random generators are left as they were,
    so evaluating in the middle of training does not change the training that follows,
    and a resumed run equals an uninterrupted one. The weights the declared rule would
    pick so far are kept in ``selected_path`` (only rules that may change their pick).
    """

    def __init__(self, runner, dataloader, evaluator, source_dataloader, fp16: bool = False,
                 target_label_size: tuple[int, int] | None = None,
                 source_val_dataloader: dict | None = None,
                 target_val_dataloader: dict | None = None,
                 validators: tuple[str, ...] = (), selection: dict | None = None):
        super().__init__(runner, dataloader)
        #: (width, height) the protocol evaluates the target at; labels of another
        #: size mean the data was resized and the numbers would not be comparable.
        self.target_label_size = tuple(target_label_size) if target_label_size else None
        self.loaders = {"target": self.dataloader}
        #: Source loaders are built at the first evaluation, never before training: a
        #: source-free run constructs no source dataset while it adapts (harness.source_free).
        self._source_configs = {"source": source_dataloader}
        if source_val_dataloader is not None:
            self._source_configs["source_val"] = source_val_dataloader
        self.target_val = (runner.build_dataloader(target_val_dataloader, seed=runner.seed)
                           if validators else None)
        self.evaluators = {}
        for domain in ("target", *self._source_configs):
            cfg = copy.deepcopy(evaluator)
            cfg["prefix"] = domain
            self.evaluators[domain] = runner.build_evaluator(cfg)
        self.fp16 = fp16
        self.validators = tuple(validators)
        self.selection = selection or {}
        self.points: list[dict] = []
        #: iteration -> per-image target counts of that point (rank 0; the other ranks None).
        self.target_samples: dict[int, PerImage | None] = {}

    def run(self) -> dict:
        with rng.preserved():
            for domain, cfg in self._source_configs.items():
                if domain not in self.loaders:
                    self.loaders[domain] = self.runner.build_dataloader(cfg,
                                                                        seed=self.runner.seed)
            self.runner.call_hook("before_val")
            self.runner.call_hook("before_val_epoch")
            self.runner.model.eval()
            point, metrics = {"iter": self.runner.iter}, {}
            for domain, loader in self.loaders.items():
                metrics.update(self._evaluate(domain, loader))
                point[domain] = self._report(domain)
            self.target_samples[point["iter"]] = self.evaluators["target"].metrics[0].last_samples
            if self.validators:
                point["validators"] = validate.scores(
                    unwrap(self.runner.model), self.validators, self.target_val,
                    self.loaders.get("source_val"), self.selection, self.fp16)
            # A resumed run re-evaluates the point its checkpoint was saved at.
            self.points = [p for p in self.points if p["iter"] != point["iter"]] + [point]
            self._keep_selected()
            self.runner.call_hook("after_val_epoch", metrics=metrics)
            self.runner.call_hook("after_val")
        return metrics

    def _evaluate(self, domain: str, loader) -> dict:
        evaluator = self.evaluators[domain]
        for idx, batch in enumerate(loader):
            if domain == "target":
                self._check_label_size(batch)
            self.runner.call_hook("before_val_iter", batch_idx=idx, data_batch=batch)
            with torch.no_grad(), autocast(enabled=self.fp16):
                outputs = self.runner.model.val_step(batch)
            evaluator.process(data_samples=outputs, data_batch=batch)
            self.runner.call_hook("after_val_iter", batch_idx=idx, data_batch=batch,
                                  outputs=outputs)
        return evaluator.evaluate(len(loader.dataset))

    def _report(self, domain: str) -> dict:
        """Every derived metric plus the confusion matrix, as records store them."""
        metric = self.evaluators[domain].metrics[0]
        return {**metric.last_report, "confusion": metric.last_matrix.tolist(),
                "variants": metric.last_variants}

    def _keep_selected(self) -> None:
        """Save the weights when the declared rule's pick moves to the newest point."""
        path, rule = self.selection.get("selected_path"), self.selection.get("rule", "last")
        if path is None or rule == "last" or self.runner.rank != 0:
            return
        chosen = selection.picks(self.points, [rule], **self._pick_args())[rule]
        if chosen == len(self.points) - 1:
            save_final(unwrap(self.runner.model), Path(path),
                       {"iter": self.runner.iter, "rule": rule})

    def _pick_args(self) -> dict:
        return {k: self.selection[k] for k in ("task", "subsets", "higher_is_better")}

    def picks(self) -> dict[str, int | None]:
        """rule -> the iteration it picks (None: no point scored), for every rule the run
        can apply."""
        chosen = selection.picks(self.points, self.selection.get("rules", ["last"]),
                                 **self._pick_args())
        return {rule: None if i is None else self.points[i]["iter"] for rule, i in chosen.items()}

    def _selected(self) -> dict:
        """The evaluation point the declared rule picks."""
        rule = self.selection.get("rule", "last")
        index = selection.picks(self.points, [rule], **self._pick_args())[rule]
        if index is None:
            raise selection.SelectionError(
                f"selection.rule = {rule!r}: the validator scored none of the "
                f"{len(self.points)} evaluation points (their warnings say why), so it picks "
                f"no checkpoint; the run's checkpoints are kept in {self.runner.work_dir}. "
                "Declare another rule (e.g. 'last') to report this run")
        return self.points[index]

    def domain_metrics(self) -> dict[str, dict]:
        """Target and source test metrics at the point the declared rule picks."""
        point = self._selected()
        return {d: point[d] for d in ("target", "source")}

    def selected_samples(self) -> PerImage | None:
        """Per-image target counts at the picked point (None on ranks other than 0, or
        when the point was evaluated before a resume)."""
        return self.target_samples.get(self._selected()["iter"])

    def _check_label_size(self, batch: dict) -> None:
        check_label_size(batch, self.target_label_size)


def check_label_size(batch: dict, size: tuple[int, int] | None) -> None:
    """Target labels must be at the (width, height) the protocol evaluates at, if it says."""
    if size is None:
        return
    height, width = batch["label"].shape[-2:]
    if (width, height) != tuple(size):
        path = batch.get("meta", {}).get("label_path", ["?"])[0]
        raise DataError(
            f"{path}: target label is {width}x{height} but the protocol evaluates at "
            f"{size[0]}x{size[1]}; evaluate on the labels at their full resolution (logits "
            "are upsampled to them), or fix eval.size"
        )
