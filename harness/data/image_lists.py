"""Classification datasets stored as image files with a label each (GTSRB, Syn.Signs, Office-31).

A dataset module reads its annotation format into a list of :class:`Sample` and
reports every problem it finds at once (:class:`ImageSetError`, one row each in
``harness data check``); :class:`ImageListDataset` then reads the images lazily
(100,000 Syn.Signs PNGs are not held in memory), crops an annotated region of
interest, and applies the protocol's resize / crop / flip with torchvision's
transforms. Items are ``{"inputs": float [C, H, W] in [0, 1], "label": int64}``,
like the digit datasets.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision.transforms import v2

from harness.data.seg_base import Problem, ProblemsError


class ImageSetError(ProblemsError):
    """Files or annotations of an image-list dataset that are missing or not as distributed.

    ``problems`` lists each finding (file, what is wrong, the fix).
    """


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int
    #: Region of interest (left, top, right, bottom), right/bottom exclusive; None = whole.
    box: tuple[int, int, int, int] | None = None


def check_count(samples: list[Sample], official: int, subset: int | None, where: str,
                fix: str) -> list[Sample]:
    """The official number of images, or with ``subset`` the first ``subset`` of at least as
    many (the convention of the digit datasets)."""
    n = len(samples)
    if subset is not None:
        if isinstance(subset, bool) or not isinstance(subset, int) or subset < 1:
            raise ImageSetError([Problem(where, f"options.subset = {subset!r} is not a positive "
                                                "number of images", "fix the protocol or --set")])
        if n < subset:
            raise ImageSetError([Problem(where, f"{n} images, fewer than the declared subset "
                                                f"of {subset}", f"{fix}, or declare "
                                                f"options.subset = {n}")])
        return samples[:subset]
    if n != official:
        raise ImageSetError([Problem(where, f"{n} images, the official count is {official}",
                                     f"{fix}, or declare a subset (e.g. --set "
                                     f"target.options.subset={n})" if n else fix)])
    return samples


def missing_files(samples: list[Sample], fix: str) -> list[Problem]:
    """A problem for each listed image file that is not on disk (or empty)."""
    problems = []
    for s in samples:
        try:
            empty = s.path.stat().st_size == 0
        except OSError:
            problems.append(Problem(str(s.path), "listed in the annotations but missing", fix))
            continue
        if empty:
            problems.append(Problem(str(s.path), "is an empty file", fix))
    return problems


def transform(size: int, crop: int | None, augment: bool) -> v2.Compose:
    """Resize to ``size`` x ``size``; then a ``crop`` (random resized crop and flip when
    ``augment``, else centre crop), as TLlib's default ResizeImage/RandomResizedCrop."""
    steps = [v2.ToImage(), v2.Resize((size, size), antialias=True)]
    if crop is not None:
        steps += ([v2.RandomResizedCrop(crop, antialias=True), v2.RandomHorizontalFlip()]
                  if augment else [v2.CenterCrop(crop)])
    elif augment:
        steps += [v2.RandomHorizontalFlip()]
    return v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True)])


class ImageListDataset(Dataset):
    """Images read on access from a validated sample list."""

    def __init__(self, name: str, samples: list[Sample], size: int, crop: int | None = None,
                 augment: bool = False, labels: bool = True):
        self.name = name
        self.samples = samples
        self.transform = transform(size, crop, augment)
        self.with_labels = labels
        self.metainfo = {"source": name}

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        s = self.samples[i]
        try:
            with Image.open(s.path) as img:
                img = img.convert("RGB")
        except (OSError, UnidentifiedImageError) as exc:
            raise ImageSetError([Problem(str(s.path), f"cannot be read as an image ({exc})",
                                         f"replace it with the file from the {self.name} "
                                         "archive")]) from None
        if s.box is not None:
            img = img.crop(s.box)
        item = {"inputs": self.transform(img)}
        if self.with_labels:
            item["label"] = torch.tensor(s.label, dtype=torch.int64)
        return item

    def fingerprint(self) -> str:
        """sha256 of what the run reads: each file's name, size, label and box, in order."""
        h = hashlib.sha256()
        for s in self.samples:
            h.update(f"{s.path.name}|{s.path.stat().st_size}|{s.label}|{s.box}\n".encode())
        return h.hexdigest()
