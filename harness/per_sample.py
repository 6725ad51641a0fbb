"""Per-image confusion counts of one run, and their side file next to the run's record.

Classification and segmentation are stored alike: a sparse per-image confusion matrix,
one entry (image, ground truth, prediction, count) per non-zero cell. A classified image
is the one-hot matrix of its (label, prediction): one entry of count 1.

The side file ``<run_id>.samples.npz`` sits beside ``<run_id>.json``. Its sha256 goes
into the record, and reading checks it, so a record's significance tests can only be
computed from the predictions that produced its metrics.
"""

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import HarnessError
from harness.utils import atomic_write

FORMAT_VERSION = 1


class SamplesError(HarnessError, ValueError):
    """A per-sample side file that is missing, unreadable or not the one its record names."""


@dataclass(frozen=True, eq=False)
class PerImage:
    """Sparse per-image confusion counts of one run over the test images, in dataset order.

    ``image``, ``gt``, ``pred`` and ``count`` are parallel int64 arrays: image ``image[i]``
    has ``count[i]`` pixels (or 1 sample) of class ``gt[i]`` predicted as ``pred[i]``.
    """

    n_images: int
    num_classes: int
    image: np.ndarray
    gt: np.ndarray
    pred: np.ndarray
    count: np.ndarray

    def __post_init__(self):
        arrays = {k: np.asarray(getattr(self, k), dtype=np.int64)
                  for k in ("image", "gt", "pred", "count")}
        if len({a.shape for a in arrays.values()}) != 1 or arrays["image"].ndim != 1:
            raise ValueError(f"image, gt, pred and count must be 1-D of one length, got "
                             f"{ {k: a.shape for k, a in arrays.items()} }")
        for key, high in (("image", self.n_images), ("gt", self.num_classes),
                          ("pred", self.num_classes)):
            a = arrays[key]
            if a.size and (a.min() < 0 or a.max() >= high):
                raise ValueError(f"{key} ids must lie in 0..{high - 1}, got {a.min()}..{a.max()}")
        if (arrays["count"] <= 0).any():
            raise ValueError("counts must be positive (absent cells are not stored)")
        for key, a in arrays.items():
            object.__setattr__(self, key, a)

    @classmethod
    def from_predictions(cls, labels, preds, num_classes: int) -> "PerImage":
        """Classification: the true label and predicted class of each test image."""
        labels, preds = np.asarray(labels), np.asarray(preds)
        if labels.shape != preds.shape or labels.ndim != 1:
            raise ValueError(f"labels {labels.shape} and predictions {preds.shape} must be "
                             "1-D arrays of one length")
        n = len(labels)
        return cls(n, num_classes, np.arange(n), labels, preds, np.ones(n, dtype=np.int64))

    @classmethod
    def from_confusion(cls, matrices) -> "PerImage":
        """Segmentation: per-image confusion matrices, N x C x C (rows = ground truth)."""
        matrices = np.asarray(matrices)
        if matrices.ndim != 3 or matrices.shape[1] != matrices.shape[2]:
            raise ValueError(f"per-image confusion matrices must be N x C x C, got "
                             f"{matrices.shape}")
        image, gt, pred = np.nonzero(matrices)
        return cls(matrices.shape[0], matrices.shape[1], image, gt, pred,
                   matrices[image, gt, pred])

    def _per_image(self, ids: np.ndarray, mask: np.ndarray, position: np.ndarray,
                   width: int) -> np.ndarray:
        """(n_images, width) sums of ``count`` over entries in ``mask``, by ``position[ids]``."""
        keep = mask & (position[ids] >= 0)
        index = self.image[keep] * width + position[ids[keep]]
        return np.bincount(index, weights=self.count[keep],
                           minlength=self.n_images * width).reshape(self.n_images, width)

    def columns(self, classes: list[int] | None) -> np.ndarray:
        """Per image (rows): true-positive, ground-truth and predicted counts of each of
        ``classes`` (3k float64 columns, in that order); ``None``: one column each, summed
        over all classes (accuracy = true positives / ground truth).

        These three sums of the confusion matrix are linear in it, so summing them over
        images gives exactly the diagonal, row and column sums of the summed matrix: every
        metric of the summed matrix follows from them.
        """
        if classes is None:
            position, width = np.zeros(self.num_classes, dtype=np.int64), 1
        else:
            position = np.full(self.num_classes, -1, dtype=np.int64)
            position[list(classes)] = np.arange(len(classes))
            width = len(classes)
        everything = np.ones_like(self.gt, dtype=bool)
        return np.hstack([self._per_image(self.gt, self.gt == self.pred, position, width),
                          self._per_image(self.gt, everything, position, width),
                          self._per_image(self.pred, everything, position, width)])

    def ground_truth(self) -> np.ndarray:
        """(n_images, num_classes) ground-truth counts: equal for runs on the same images."""
        everything = np.ones_like(self.gt, dtype=bool)
        return self._per_image(self.gt, everything, np.arange(self.num_classes),
                               self.num_classes)


def samples_path(record_path: Path) -> Path:
    """``<dir>/<run_id>.samples.npz`` beside the record ``<dir>/<run_id>.json``."""
    record_path = Path(record_path)
    return record_path.with_name(f"{record_path.stem}.samples.npz")


def _compact(a: np.ndarray) -> np.ndarray:
    return a.astype(np.min_scalar_type(int(a.max()) if a.size else 0))


def encode_samples(samples: PerImage) -> tuple[bytes, str]:
    """The compressed side file's bytes and their sha256 (hex).

    Separate from writing because the record's id hashes the record, sha256 included,
    and the file is named by that id: encode, finalize the record, then write both.
    """
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, format_version=FORMAT_VERSION, n_images=samples.n_images,
        num_classes=samples.num_classes,
        **{k: _compact(getattr(samples, k)) for k in ("image", "gt", "pred", "count")})
    blob = buffer.getvalue()
    return blob, hashlib.sha256(blob).hexdigest()


def write_samples(record_path: Path, blob: bytes) -> Path:
    """Write :func:`encode_samples`' bytes atomically beside the record; returns the path."""
    return atomic_write(samples_path(record_path), blob)


def read_samples(path: Path, sha256: str) -> PerImage:
    """The side file at ``path``, after checking its sha256 against the record's."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise SamplesError(f"{path}: cannot read the per-sample file ({exc.strerror}); "
                           "re-run the evaluation to write it") from None
    digest = hashlib.sha256(blob).hexdigest()
    if digest != sha256:
        raise SamplesError(
            f"{path}: sha256 {digest[:16]}... does not match the record's {sha256[:16]}...: "
            "the file was changed or belongs to another run; re-run the evaluation")
    # The hash matched, so these are the bytes encode_samples wrote: only the version can differ.
    with np.load(io.BytesIO(blob)) as npz:
        arrays = {k: npz[k] for k in npz.files}
    if int(arrays["format_version"]) != FORMAT_VERSION:
        raise SamplesError(f"{path}: per-sample format {int(arrays['format_version'])}, this "
                           f"harness reads {FORMAT_VERSION}; re-run the evaluation")
    return PerImage(int(arrays["n_images"]), int(arrays["num_classes"]),
                    *(arrays[k] for k in ("image", "gt", "pred", "count")))

