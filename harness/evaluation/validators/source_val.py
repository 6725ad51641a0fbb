"""Source-validation accuracy or mIoU: the baseline validator, higher is better."""

import torch

from harness.evaluation.metrics import derive
from harness.evaluation.validators.base import Validator, register
from harness.names import check_name

#: Score name -> the key of :func:`harness.evaluation.metrics.derive` (percentages).
METRICS = {"acc": "pixel_acc", "mean_acc": "mean_acc", "miou": "miou"}


@register
class SourceValidation(Validator):
    """A metric of the source-validation confusion matrix (rows: ground truth).

    Feed each process's own counts (``ConfusionMetric`` matrices before their
    all-reduce), or feed the all-reduced matrix and skip ``all_reduce``.
    """

    name = "source_val"
    higher_is_better = True
    reads = frozenset({"source_confusion"})

    def __init__(self, metric: str = "acc"):
        self.metric = check_name("source_val metric", metric, METRICS)
        self._matrix: torch.Tensor | None = None

    def update(self, batch) -> None:
        matrix = self._inputs(batch)["source_confusion"].to("cpu", torch.int64)
        if self._matrix is None:
            self._matrix = torch.zeros_like(matrix)
        self._matrix += matrix

    def all_reduce(self) -> None:
        from mmengine import dist

        if self._matrix is None:
            raise ValueError("validator 'source_val' got no confusion matrix on this process")
        dist.all_reduce(self._matrix, op="sum")

    def score(self) -> float:
        if self._matrix is None:
            raise ValueError("validator 'source_val' got no confusion matrix")
        names = [str(i) for i in range(len(self._matrix))]
        value = derive(self._matrix.numpy(), names)[METRICS[self.metric]]
        if value is None:
            raise ValueError("validator 'source_val': the confusion matrix is empty")
        return value
