"""The confusion-matrix metric as an mmengine ``BaseMetric``.

Each process accumulates one matrix; ``evaluate`` sums them with an
all-reduce (exact, and independent of the number of processes as long as the
sampler does not pad: the harness builds evaluation samplers with
``round_up=False``).

It also keeps each test image's counts (a per-image confusion matrix, or the label and
prediction of a classified image), gathered on rank 0 in dataset order, for the paired
significance tests of :mod:`harness.compare`.
"""

import numpy as np
import torch
from mmengine.dist import collect_results
from mmengine.evaluator import BaseMetric

from harness.evaluation.confusion import StreamingConfusion
from harness.evaluation.metrics import derive
from harness.per_sample import PerImage
from harness.registry import METRICS


def _image_rows(pred: torch.Tensor, gt: torch.Tensor, per_image: torch.Tensor | None,
                ignore_index: int) -> list[np.ndarray]:
    """One (k, 3) int64 array of (gt, pred, count) rows per image of a batch."""
    if per_image is None:  # classification: one (label, prediction) per image
        pairs = torch.stack([gt.reshape(-1), pred.reshape(-1)], 1).cpu().numpy()
        return [np.array([[g, p, 1]] if g != ignore_index else np.zeros((0, 3)),
                         dtype=np.int64) for g, p in pairs]
    counts = per_image.cpu().numpy()
    image, g, p = np.nonzero(counts)
    rows = np.stack([g, p, counts[image, g, p]], 1).astype(np.int64)
    return np.split(rows, np.searchsorted(image, np.arange(1, len(counts))))


@METRICS.register_module()
class ConfusionMetric(BaseMetric):
    """Feeds ``dict(pred=LongTensor, gt=LongTensor)`` samples into one matrix.

    Extra ``pred_<name>`` entries (e.g. the calibrator's ``pred_uncalibrated``)
    get a matrix of their own against the same ground truth: ``last_variants``.
    """

    default_prefix = "eval"

    def __init__(
        self,
        class_names: list[str],
        subsets: dict[str, list[int]] | None = None,
        ignore_index: int = 255,
        prefix: str | None = None,
    ):
        super().__init__(prefix=prefix)
        self.class_names = list(class_names)
        self.subsets = subsets or {}
        self.ignore_index = ignore_index
        self._confusions: dict[str, StreamingConfusion] = {}
        self.last_matrix: np.ndarray | None = None
        self.last_report: dict | None = None
        self.last_variants: dict[str, dict] = {}
        #: Per image of the last evaluation, in dataset order: (k, 3) arrays of
        #: (gt, pred, count) rows of this process's images until ``evaluate``.
        self._images: list[np.ndarray] = []
        #: The per-image counts of ``pred`` in the last evaluation (rank 0; None elsewhere).
        self.last_samples: PerImage | None = None

    def process(self, data_batch, data_samples) -> None:
        for sample in data_samples:
            for key in [k for k in sample if k == "pred" or k.startswith("pred_")]:
                if key not in self._confusions:
                    self._confusions[key] = StreamingConfusion(
                        len(self.class_names), self.ignore_index, device=sample[key].device)
                # Per-image counts of the main prediction only; dense maps are (B, H, W).
                per_image = key == "pred" and sample[key].dim() > 1
                counts = self._confusions[key].update(sample[key], sample["gt"],
                                                      sample.get("source", "batch"), per_image)
                if key == "pred":
                    self._images += _image_rows(sample[key], sample["gt"], counts,
                                                self.ignore_index)

    def compute_metrics(self, results: list) -> dict:
        matrix = sum(np.asarray(m, dtype=np.int64) for m in results)
        self.last_matrix = matrix
        self.last_report = derive(matrix, self.class_names, self.subsets)
        scalars = {"acc": self.last_report["pixel_acc"], "mean_acc": self.last_report["mean_acc"]}
        scalars["miou"] = self.last_report["miou"]
        for name, sub in self.last_report["subsets"].items():
            scalars[f"miou_{name}"] = sub["miou"]
        return {k: v for k, v in scalars.items() if v is not None}

    def evaluate(self, size: int) -> dict:
        n = len(self.class_names)
        confusions = self._confusions or {"pred": StreamingConfusion(n, self.ignore_index)}
        self._confusions = {}
        self.last_samples = self._gather_images(size)
        # Sorted: every process all-reduces the same matrices in the same order.
        matrices = {k: c.all_reduce().cpu().numpy() for k, c in sorted(confusions.items())}
        self.last_variants = {
            key.removeprefix("pred_"): {**derive(m, self.class_names, self.subsets),
                                        "confusion": m.tolist()}
            for key, m in matrices.items() if key != "pred"
        }
        metrics = self.compute_metrics([matrices["pred"]])
        for name, report in self.last_variants.items():
            metrics[f"acc_{name}"] = report["pixel_acc"]
        return {f"{self.prefix}/{k}": v for k, v in metrics.items() if v is not None}

    def _gather_images(self, size: int) -> PerImage | None:
        """This evaluation's per-image counts in dataset order, on rank 0.

        The evaluation sampler gives rank r the images r, r + world, ... unpadded, and
        ``collect_results`` interleaves the ranks' lists back in that order. Its object
        all-gather (mmengine calls it the "gpu" mode) works on gloo too, and unlike the
        "cpu" mode writes no temporary folder into the working directory.
        """
        images, self._images = self._images, []
        images = collect_results(images, size, "gpu")
        if images is None:
            return None
        rows = np.concatenate([np.zeros((0, 3), dtype=np.int64), *images])
        index = np.repeat(np.arange(len(images)), [len(r) for r in images])
        return PerImage(len(images), len(self.class_names), index, *rows.T)
