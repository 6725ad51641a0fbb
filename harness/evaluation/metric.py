"""The confusion-matrix metric as an mmengine ``BaseMetric``.

Each process accumulates one matrix; ``evaluate`` sums them with an
all-reduce (exact, and independent of the number of processes as long as the
sampler does not pad: the harness builds evaluation samplers with
``round_up=False``).
"""

import numpy as np
from mmengine.evaluator import BaseMetric

from harness.evaluation.confusion import StreamingConfusion
from harness.evaluation.metrics import derive
from harness.registry import METRICS


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

    def process(self, data_batch, data_samples) -> None:
        for sample in data_samples:
            for key in [k for k in sample if k == "pred" or k.startswith("pred_")]:
                if key not in self._confusions:
                    self._confusions[key] = StreamingConfusion(
                        len(self.class_names), self.ignore_index, device=sample[key].device)
                self._confusions[key].update(sample[key], sample["gt"],
                                             sample.get("source", "batch"))

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
