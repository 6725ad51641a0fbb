"""Every reported metric, derived from one confusion matrix (rows = ground truth).

Percentages, as the papers print them. A class absent from both ground truth
and prediction has no IoU (0/0): it is reported as missing (``None``) and left
out of every mean, never counted as 0 or 100. Accuracy of a class absent from
the ground truth is missing for the same reason.
"""

import numpy as np

MISSING_RULE = (
    "Classes absent from both ground truth and prediction have no IoU (0/0); they are "
    "shown as '-' and left out of every mean. A class predicted but absent from the "
    "ground truth has IoU 0."
)


def _ratio(num: np.ndarray, den: np.ndarray) -> list[float | None]:
    return [100.0 * float(n) / float(d) if d > 0 else None for n, d in zip(num, den)]


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def derive(
    matrix: np.ndarray, class_names: list[str], subsets: dict[str, list[int]] | None = None
) -> dict:
    """All metrics of one confusion matrix, with class subsets' means."""
    matrix = np.asarray(matrix, dtype=np.int64)
    if matrix.shape != (len(class_names), len(class_names)):
        raise ValueError(
            f"confusion matrix of shape {matrix.shape} does not match {len(class_names)} classes"
        )
    tp = np.diag(matrix)
    gt = matrix.sum(axis=1)
    pred = matrix.sum(axis=0)
    union = gt + pred - tp
    total = int(matrix.sum())
    iou = _ratio(tp, union)
    acc = _ratio(tp, gt)
    out = {
        "classes": list(class_names),
        "iou": iou,
        "acc": acc,
        "miou": _mean(iou),
        "mean_acc": _mean(acc),
        "pixel_acc": 100.0 * float(tp.sum()) / total if total else None,
        "fwiou": (
            float(sum(g * v for g, v in zip(gt, iou) if v is not None)) / total if total else None
        ),
        "missing": [c for c, u in zip(class_names, union) if u == 0],
        "subsets": {},
        "n": total,
    }
    for name, idx in (subsets or {}).items():
        out["subsets"][name] = {
            "classes": [class_names[i] for i in idx],
            "miou": _mean([iou[i] for i in idx]),
            "mean_acc": _mean([acc[i] for i in idx]),
        }
    return out
