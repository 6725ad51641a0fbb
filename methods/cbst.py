"""Self-training: ST and CBST (Zou et al., ECCV 2018; seed 004).

Rounds of: predict on the unlabeled target training split, select
pseudo-labels, retrain on source labels plus target pseudo-labels, starting
from the cached source-only model. ST keeps the portion p most confident
target predictions overall (one global threshold); CBST chooses a threshold per
class, each at portion p of that class's own predictions, so rare classes are
not swamped, and normalises probabilities by the class thresholds before the
argmax (yzou2/CBST issegm/solve_ST.py, yzou2/CRST crst_seg.py). p grows each
round. Thresholds come from streaming per-class histograms
(harness/selftrain/thresholds.py), exact to the bin width.

Pseudo-labels of each round are written atomically to the run's work dir and
reloaded on resume, so an interrupted run never recomputes a finished round.

Scope: classification protocols. Segmentation needs pseudo-label maps that go
through the training crops with the image, and CBST-SP's spatial priors
(harness.selftrain.thresholds.SpatialPrior) only apply there; neither is wired
into a method yet.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from harness.method import IGNORE_INDEX, UDAMethod
from harness.registry import METHODS
from harness.selftrain.thresholds import (
    ConfidenceHistogram,
    classwise_thresholds,
    global_threshold,
    portion_schedule,
    select_pseudo_labels,
)


class _SelfTraining(UDAMethod):
    tasks = ("classification",)
    needs_source_model = True
    classwise: bool

    @dataclass(frozen=True)
    class HParams:
        rounds: int = 3                # retraining rounds over the protocol's iterations
        portion_start: float = 0.2     # p0: seed 004; CRST INIT_TGT_PORT
        portion_step: float = 0.05     # delta-p per round: seed 004; CRST TGT_PORT_STEP
        portion_max: float = 0.5       # CRST MAX_TGT_PORT
        target_weight: float = 1.0     # pseudo-label loss weight (CBST: plain sum)
        bins: int = 10_000             # histogram resolution of the thresholds

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.hp.rounds < 1:
            raise ValueError(f"rounds must be >= 1, not {self.hp.rounds}")
        self.pseudo_labels: torch.Tensor | None = None
        self.round_info: list[dict] = []

    # -- rounds ------------------------------------------------------------------
    def on_round_start(self, runner, round_idx: int) -> None:
        path = Path(runner.work_dir) / "pseudo_labels" / f"round_{round_idx}.pt"
        if path.is_file():  # written before an interruption: reuse, never recompute
            saved = torch.load(path, weights_only=True)
        else:
            saved = self._select(runner.train_loop.loaders["target"].dataset, round_idx)
            if runner.rank == 0:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                torch.save(saved, tmp)
                tmp.replace(path)
        self.pseudo_labels = saved["labels"]

    @torch.no_grad()
    def _select(self, dataset, round_idx: int) -> dict:
        hp = self.hp
        portion = portion_schedule(round_idx, hp.portion_start, hp.portion_step, hp.portion_max)
        was_training = self.training
        self.eval()
        probs = []
        for batch in DataLoader(dataset, batch_size=256, shuffle=False):
            inputs = batch["inputs"].to(self.mean.device)
            probs.append(self.predict(inputs).softmax(1).cpu())
        self.train(was_training)
        probs = torch.cat(probs)
        hist = ConfidenceHistogram(probs.shape[1], bins=hp.bins)
        hist.update(probs)
        hist.all_reduce()
        thresholds = (classwise_thresholds(hist, portion) if self.classwise
                      else global_threshold(hist, portion))
        labels = select_pseudo_labels(probs, thresholds, ignore_index=IGNORE_INDEX)
        thresholds = torch.as_tensor(thresholds, dtype=torch.float64).expand(probs.shape[1])
        return {"labels": labels, "thresholds": thresholds.clone(),
                "portion": torch.tensor(portion)}

    # -- training ----------------------------------------------------------------
    def loss(self, source, target):
        losses = {"loss_source": self.supervised_loss(source)}
        labels = self.pseudo_labels[target["index"].cpu()].to(target["inputs"].device)
        selected = labels != IGNORE_INDEX
        if bool(selected.any()):
            logits = self.logits(target["inputs"])
            losses["loss_pseudo"] = self.hp.target_weight * F.cross_entropy(
                logits, labels, ignore_index=IGNORE_INDEX)
        else:  # no pixel of this batch was selected: nothing to learn from it
            losses["loss_pseudo"] = self.logits(target["inputs"]).sum() * 0.0
        return losses


@METHODS.register_module(name="st")
class ST(_SelfTraining):
    classwise = False


@METHODS.register_module(name="cbst")
class CBST(_SelfTraining):
    classwise = True
