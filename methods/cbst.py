"""Self-training: ST, CBST and CBST-SP (Zou et al., ECCV 2018; seed 004).

Rounds of: predict on the unlabeled target training split, select
pseudo-labels, retrain on source labels plus target pseudo-labels, starting
from the cached source-only model. ST keeps the portion p most confident
target predictions overall (one global threshold); CBST chooses a threshold per
class, each at portion p of that class's own predictions, so rare classes are
not swamped, and normalises probabilities by the class thresholds before the
argmax (yzou2/CBST issegm/solve_ST.py, yzou2/CRST crst_seg.py). CBST-SP
multiplies the target probabilities by per-class spatial priors counted on the
source labels before selecting. p grows each round. Thresholds come from
streaming per-class histograms (harness/selftrain/thresholds.py), exact to the
bin width, so memory does not grow with the number of target pixels.

Pseudo-labels are kept per round in the run's artifact store (written
atomically by the harness) and reloaded on resume, so an interrupted run
never recomputes a finished round. On segmentation they are label maps at each
target image's full resolution, read at the front of the training pipeline
(harness/transforms/pseudo_label.py) so the random crops apply to them too;
predictions for them use the protocol's test-time input size.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field, NonNegativeFloat, PositiveInt
from torch.utils.data import DataLoader

from harness.method import UDAMethod
from harness.registry import METHODS
from harness.rounds import RoundContext
from harness.selftrain.thresholds import (
    ConfidenceHistogram,
    SpatialPrior,
    classwise_thresholds,
    global_threshold,
    portion_schedule,
    select_pseudo_labels,
)
from harness.utils import IGNORE_INDEX

#: A share of the target pixels, in (0, 1].
Portion = Annotated[float, Field(gt=0, le=1)]


class _SelfTraining(UDAMethod):
    needs_source_model = True
    #: Segmentation pseudo-labels are maps that go through the training crops.
    pseudo_label_maps = True
    classwise: bool
    spatial_prior = False

    @dataclass(frozen=True)
    class HParams:
        rounds: PositiveInt = 3        # retraining rounds over the protocol's iterations
        portion_start: Portion = 0.2   # p0: seed 004; CRST INIT_TGT_PORT
        #: delta-p per round: seed 004; CRST TGT_PORT_STEP
        portion_step: Annotated[float, Field(ge=0, le=1)] = 0.05
        portion_max: Portion = 0.5     # CRST MAX_TGT_PORT
        target_weight: NonNegativeFloat = 1.0  # pseudo-label loss weight (CBST: plain sum)
        bins: PositiveInt = 10_000     # histogram resolution of the thresholds
        prior_size: tuple[PositiveInt, PositiveInt] = (128, 256)  # CBST-SP counting grid (h, w)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pseudo_labels: torch.Tensor | None = None
        self.round_info: list[dict] = []

    @classmethod
    def rounds(cls, hparams) -> int:
        return hparams.rounds

    # -- rounds ------------------------------------------------------------------
    def on_round_start(self, ctx: RoundContext) -> None:
        if self.net.output_stride is not None:  # a dense (segmentation) model
            self._segmentation_round(ctx)
            return
        name = f"round_{ctx.round}.pt"
        if ctx.artifacts.exists(name):  # written before an interruption: reuse, never recompute
            saved = ctx.artifacts.load(name)
        else:
            saved = self._select(ctx.dataset("target"), ctx.round)
            ctx.artifacts.save(name, saved)
        self.pseudo_labels = saved["labels"]

    @torch.no_grad()
    def _select(self, dataset, round_idx: int) -> dict:
        was_training = self.training
        self.eval()
        probs = []
        for batch in DataLoader(dataset, batch_size=256, shuffle=False):
            inputs = batch["inputs"].to(self.mean.device)
            probs.append(self.predict(inputs).softmax(1).cpu())
        self.train(was_training)
        probs = torch.cat(probs)
        hist = ConfidenceHistogram(self.num_classes, bins=self.hp.bins)
        hist.update(probs)
        thresholds = self._thresholds(hist, round_idx)
        labels = select_pseudo_labels(probs, thresholds, ignore_index=IGNORE_INDEX)
        thresholds = torch.as_tensor(thresholds, dtype=torch.float64).expand(self.num_classes)
        return {"labels": labels, "thresholds": thresholds.clone()}

    def _thresholds(self, hist: ConfidenceHistogram, round_idx: int):
        hp = self.hp
        portion = portion_schedule(round_idx, hp.portion_start, hp.portion_step, hp.portion_max)
        hist.all_reduce()
        return classwise_thresholds(hist, portion) if self.classwise else global_threshold(
            hist, portion)

    # -- segmentation rounds -----------------------------------------------------
    def _segmentation_round(self, ctx: RoundContext) -> None:
        folder = f"round_{ctx.round}"
        if not ctx.artifacts.is_done(folder):  # else: finished before an interruption
            dataset = ctx.dataset("target")
            prior = self._prior(ctx) if self.spatial_prior else None
            # With the prior (mean 1 over the image) a score can exceed 1 up to its peak.
            hist = ConfidenceHistogram(self.num_classes, bins=self.hp.bins,
                                       value_range=1.0 if prior is None else prior.max())
            for _, probs in self._dense_probs(dataset):
                hist.update(probs, self._fit(prior, probs))
            thresholds = self._thresholds(hist, ctx.round)
            for path, probs in self._dense_probs(dataset):
                labels = select_pseudo_labels(probs, thresholds, self._fit(prior, probs))
                ctx.artifacts.save_label_map(f"{folder}/{Path(path).stem}.png",
                                             labels[0].to(torch.uint8).numpy())
            ctx.artifacts.mark_done(folder)
        ctx.artifacts.set_current(folder)

    @torch.no_grad()
    def _dense_probs(self, dataset):
        """(image path, class probabilities [1, C, H, W] at the image's full size)."""
        was_training = self.training
        self.eval()
        for item in dataset:
            inputs = item["inputs"][None].to(self.mean.device)
            logits = self.predict(inputs)
            height, width = item["meta"]["ori_shape"]
            logits = F.interpolate(logits, size=(height, width), mode="bilinear",
                                   align_corners=self.align_corners)
            yield item["meta"]["img_path"], logits.softmax(1).cpu()
        self.train(was_training)

    def _prior(self, ctx: RoundContext) -> torch.Tensor:
        """CBST-SP's class frequency maps from the source labels, counted once per run."""
        name = "spatial_prior.pt"
        if ctx.artifacts.exists(name):
            return ctx.artifacts.load(name)
        prior = SpatialPrior(self.num_classes, self.hp.prior_size)
        for item in ctx.dataset("source"):
            prior.update(item["label"][None])
        prior.all_reduce()
        grid = prior.prior()
        scaled = grid * (grid.shape[1] * grid.shape[2])  # mean 1 per class map
        ctx.artifacts.save(name, scaled)
        return scaled

    @staticmethod
    def _fit(prior: torch.Tensor | None, probs: torch.Tensor) -> torch.Tensor | None:
        if prior is None:
            return None
        return F.interpolate(prior[None], size=probs.shape[-2:], mode="bilinear",
                             align_corners=False)[0]

    # -- training ----------------------------------------------------------------
    def loss(self, source, target):
        if "pseudo_label" in target:  # segmentation: maps cropped with the image
            labels = target["pseudo_label"]
        else:
            labels = self.pseudo_labels[target["index"].cpu()].to(target["inputs"].device)
        logits = self.resize_to(self.logits(target["inputs"]), labels)
        if bool((labels != IGNORE_INDEX).any()):
            pseudo = F.cross_entropy(logits, labels.long(), ignore_index=IGNORE_INDEX)
        else:  # nothing of this batch was selected: nothing to learn from it
            pseudo = logits.sum() * 0.0
        return {"loss_source": self.supervised_loss(source),
                "loss_pseudo": self.hp.target_weight * pseudo}


@METHODS.register_module(name="st")
class ST(_SelfTraining):
    classwise = False


@METHODS.register_module(name="cbst")
class CBST(_SelfTraining):
    classwise = True


@METHODS.register_module(name="cbst_sp")
class CBSTSP(_SelfTraining):
    tasks = ("segmentation",)  # spatial priors need label maps
    classwise = True
    spatial_prior = True
