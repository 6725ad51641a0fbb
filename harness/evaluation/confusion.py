"""Streaming confusion matrix: one bincount per batch, on the model's device."""

import numpy as np
import torch

from harness.errors import HarnessError


class LabelRangeError(HarnessError, ValueError):
    """Ground-truth or predicted ids outside ``[0, num_classes)`` (and not ignore)."""


def _bincount(index: torch.Tensor, length: int) -> torch.Tensor:
    # torch.bincount on CPU is single-threaded and ~4x slower than numpy's for
    # 8M values (benchmarks/test_confusion.py); on CUDA it is the fast path.
    if index.is_cuda:
        return torch.bincount(index, minlength=length)
    return torch.from_numpy(np.bincount(index.numpy(), minlength=length))


class StreamingConfusion:
    """Accumulates ``matrix[gt, pred]`` counts (int64) over any number of batches.

    Rows are ground truth, columns predictions. Pixels whose ground truth is
    ``ignore_index`` are skipped; any other id outside the class range is an
    error, because silently dropping it would change every metric.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255, device=None):
        if ignore_index < num_classes:
            raise ValueError(f"ignore_index {ignore_index} must not be a class id (< {num_classes})")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    def update(self, pred: torch.Tensor, gt: torch.Tensor, source: str = "batch",
               per_image: bool = False) -> torch.Tensor | None:
        """Add a batch; ``per_image``: also return each image's counts, (B, C, C) for
        dense (B, H, W) maps, taken from the same bincount as the batch's matrix."""
        if pred.shape != gt.shape:
            raise ValueError(
                f"{source}: prediction shape {tuple(pred.shape)} != label shape "
                f"{tuple(gt.shape)}; upsample the logits to the label size before evaluating"
            )
        n = self.num_classes
        pred = pred.to(self.matrix.device)
        gt = gt.to(self.matrix.device, torch.int64)
        low, high = torch.aminmax(pred)
        if low < 0 or high >= n:
            bad = torch.unique(pred[(pred < 0) | (pred >= n)])[:10].tolist()
            raise LabelRangeError(f"{source}: prediction ids {bad} are outside 0..{n - 1}")
        gt_low, gt_high = torch.aminmax(gt)
        if gt_low < 0:
            self._raise_label_error(gt, source)
        # One bin per (image, gt, pred): gt * n + pred, offset by image. Ids n..ignore-1
        # and above ignore land in bins past each image's matrix and are reported; the
        # ignore row is dropped.
        span = n * (max(int(gt_high), self.ignore_index) + 1)
        images = pred.shape[0] if per_image else 1
        index = (gt * n + pred).reshape(images, -1)
        if images > 1:
            index = index + torch.arange(images, device=index.device)[:, None] * span
        counts = _bincount(index.reshape(-1), images * span).view(images, span)
        stray = torch.cat([counts[:, n * n: self.ignore_index * n],
                           counts[:, (self.ignore_index + 1) * n:]], 1)
        if bool(stray.any()):
            self._raise_label_error(gt, source)
        counts = counts[:, : n * n].reshape(images, n, n)
        self.matrix += counts.sum(0)
        return counts if per_image else None

    def _raise_label_error(self, gt: torch.Tensor, source: str):
        n = self.num_classes
        bad = torch.unique(gt[((gt < 0) | (gt >= n)) & (gt != self.ignore_index)])[:10].tolist()
        raise LabelRangeError(
            f"{source}: label ids {bad} are outside 0..{n - 1} and not the ignore id "
            f"{self.ignore_index}; the label map for this dataset is wrong or the labels "
            "were not remapped to train ids"
        )

    def all_reduce(self) -> torch.Tensor:
        """Sum the matrix over all processes (a no-op without torch.distributed)."""
        from mmengine import dist

        dist.all_reduce(self.matrix, op="sum")
        return self.matrix
