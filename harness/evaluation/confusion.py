"""Streaming confusion matrix: one ``bincount`` per batch, on the model's device."""

import torch


class LabelRangeError(ValueError):
    """Ground-truth or predicted ids outside ``[0, num_classes)`` (and not ignore)."""


class StreamingConfusion:
    """Accumulates ``matrix[gt, pred]`` counts (int64) over any number of batches.

    Rows are ground truth, columns predictions. Pixels whose ground truth is
    ``ignore_index`` are skipped; any other id outside the class range is an
    error, because silently dropping it would change every metric.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255, device=None):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    def update(self, pred: torch.Tensor, gt: torch.Tensor, source: str = "batch") -> None:
        if pred.shape != gt.shape:
            raise ValueError(
                f"{source}: prediction shape {tuple(pred.shape)} != label shape "
                f"{tuple(gt.shape)}; upsample the logits to the label size before evaluating"
            )
        pred = pred.reshape(-1).to(self.matrix.device, torch.int64)
        gt = gt.reshape(-1).to(self.matrix.device, torch.int64)
        keep = gt != self.ignore_index
        pred, gt = pred[keep], gt[keep]
        n = self.num_classes
        for name, ids in (("label", gt), ("prediction", pred)):
            bad = (ids < 0) | (ids >= n)
            if bool(bad.any()):
                values = torch.unique(ids[bad])[:10].tolist()
                raise LabelRangeError(
                    f"{source}: {name} ids {values} are outside 0..{n - 1} and not the ignore "
                    f"id {self.ignore_index}; the label map for this dataset is wrong or the "
                    "labels were not remapped to train ids"
                )
        self.matrix += torch.bincount(gt * n + pred, minlength=n * n).reshape(n, n)

    def all_reduce(self) -> torch.Tensor:
        """Sum the matrix over all processes (a no-op without torch.distributed)."""
        from mmengine import dist

        dist.all_reduce(self.matrix, op="sum")
        return self.matrix
