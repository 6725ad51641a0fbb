"""Base of the segmentation datasets, read as distributed (layouts: datasets.md sections 3-7).

Each dataset (one module each: ``gta5``, ``cityscapes``, ``synthia``, ``nthu``,
``bdd100k``) lists its image files, pairs each with its label file, and runs
``LoadRGBImage -> LoadSegLabel(label map) -> user pipeline -> PackSegSample``.
An item is ``{"inputs": uint8 [3,H,W] RGB, "label": int64 [H,W] trainIds with
255 = ignore, "meta": {img_path, label_path, ori_shape, img_shape}}``; unlabelled
splits (NTHU train) and ``with_label=False`` give no ``label``.

Listing problems (mislaid root, image without label, ...) are collected by
:meth:`SegDataset.scan`, raised together by the constructor and reported one by
one by :func:`harness.data.layout_check.check_dataset`.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from mmengine.dataset import BaseDataset

from harness.data.classes import CITYSCAPES19_NAMES
from harness.data.labelmaps import get_labelmap
from harness.data.loading import LoadRGBImage, LoadSegLabel, PackSegSample
from harness.errors import DataError, DataMissingError
from harness.names import check_name
from harness.registry import DATASETS, TRANSFORMS

# Shown problems in an exception message; `harness data check` lists all of them.
_MAX_SHOWN = 5


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset copy: where, what, and how to fix it.

    ``severity="warning"`` marks a documented property of the real data that the
    loader handles (e.g. GTA5 size mismatches): reported, not a failure.
    """

    path: str
    problem: str
    fix: str
    severity: str = "error"


def format_problems(problems: list[Problem]) -> str:
    lines = [f"- {p.path}: {p.problem}. Fix: {p.fix}" for p in problems[:_MAX_SHOWN]]
    if len(problems) > _MAX_SHOWN:
        lines.append(f"... and {len(problems) - _MAX_SHOWN} more (`harness data check` lists all)")
    return "\n".join(lines)


class ProblemsError(DataError):
    """Several findings about a dataset's files, reported at once; ``problems`` lists each
    (file, what is wrong, the fix), one table row each in ``harness data check``."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        if len(self.problems) == 1:
            p = self.problems[0]
            text = f"{p.path}: {p.problem}; {p.fix}"
        else:
            text = f"{len(self.problems)} problems:\n" + format_problems(self.problems)
        super().__init__(text)


def _build_step(step):
    if callable(step):
        return step
    return TRANSFORMS.build(step)


class SegDataset(BaseDataset, metaclass=ABCMeta):
    """Base of the harness segmentation datasets (19-way Cityscapes trainIds).

    Args:
        data_root: the dataset folder as extracted (see each class's ``LAYOUT``).
        split: one of ``SPLIT_SIZES``.
        pipeline: transforms (dicts for ``TRANSFORMS`` or callables) run between
            loading and packing, e.g. ``dict(type="RandomCrop", crop_size=(512, 512))``.
        subset: use only the first ``subset`` samples in sorted file order.
        stride: then keep every ``stride``-th sample (a spread-out evaluation subset).
        with_label: load labels; default: whether the split is labelled.
    """

    METAINFO: ClassVar[dict] = dict(classes=CITYSCAPES19_NAMES)
    NAME: ClassVar[str]
    LABELMAP: ClassVar[str]
    SPLIT_SIZES: ClassVar[dict[str, int]]  # official number of images per split
    LABELLED_SPLITS: ClassVar[tuple[str, ...]]
    SIZE_MISMATCH: ClassVar[str] = "error"
    LAYOUT: ClassVar[str]

    def __init__(
        self,
        data_root: str,
        split: str,
        pipeline: list | None = None,
        subset: int | None = None,
        stride: int | None = None,
        with_label: bool | None = None,
        lazy_init: bool = False,
        test_mode: bool = False,
    ):
        if split not in self.SPLIT_SIZES:
            raise DataError(
                f"{self.NAME}: unknown split {split!r}; splits: {', '.join(self.SPLIT_SIZES)}"
            )
        labelled = split in self.LABELLED_SPLITS
        if with_label and not labelled:
            raise DataError(
                f"{self.NAME} split {split!r} has no labels; pass with_label=False "
                f"(labelled splits: {', '.join(self.LABELLED_SPLITS)})"
            )
        if subset is not None and subset < 1:
            raise ValueError(f"{self.NAME}: subset must be a positive count, not {subset}")
        if stride is not None and stride < 1:
            raise ValueError(f"{self.NAME}: stride must be a positive count, not {stride}")
        self.split = split
        self.subset = subset
        self.stride = stride
        self.with_label = labelled if with_label is None else with_label
        labelmap = get_labelmap(self.labelmap_name())
        steps = [LoadRGBImage()]
        if self.with_label:
            steps.append(LoadSegLabel(labelmap.name, self.SIZE_MISMATCH))
        steps += [_build_step(s) for s in pipeline or []]
        steps.append(PackSegSample())
        super().__init__(
            data_root=str(data_root),
            # Dict values: mmengine takes a plain string in metainfo for a file to load.
            metainfo=dict(
                dataset=dict(name=self.NAME, split=split, **self.options()),
                label_map=dict(
                    name=labelmap.name, version=labelmap.version, fingerprint=labelmap.fingerprint
                ),
            ),
            pipeline=steps,
            lazy_init=lazy_init,
            test_mode=test_mode,
        )

    # --- per-dataset layout ---------------------------------------------------
    def missing_label_fix(self) -> str:
        """What to do about an image without its label file."""
        return "extract the label archive completely, or remove the image"

    def labelmap_name(self) -> str:
        return self.LABELMAP

    def options(self) -> dict:
        """Dataset-specific constructor options, recorded in ``metainfo``."""
        return {}

    @abstractmethod
    def image_dir(self) -> Path: ...

    @abstractmethod
    def label_dir(self) -> Path: ...

    @abstractmethod
    def list_images(self) -> list[Path]: ...

    @abstractmethod
    def label_path(self, image: Path) -> Path: ...

    @abstractmethod
    def list_labels(self) -> list[Path]: ...

    # --- listing ----------------------------------------------------------------
    @property
    def root(self) -> Path:
        return Path(self.data_root)

    def layout_hint(self) -> str:
        return f"expected layout under {self.root}:\n{self.LAYOUT}"

    def scan(self) -> tuple[list[dict], list[Problem]]:
        """All (image, label) pairs of the split and every listing problem."""
        dirs = [self.image_dir()] + ([self.label_dir()] if self.with_label else [])
        missing = [d for d in dirs if not d.is_dir()]
        if missing:
            return [], [
                Problem(str(d), "folder does not exist", self.layout_hint()) for d in missing
            ]
        images = self.list_images()
        if not images:
            return [], [Problem(str(self.image_dir()), "no image files found", self.layout_hint())]
        if not self.with_label:
            return [dict(img_path=str(i), seg_map_path=None) for i in images], []
        labels = set(self.list_labels())
        data_list, problems = [], []
        for image in images:
            label = self.label_path(image)
            if label in labels:
                data_list.append(dict(img_path=str(image), seg_map_path=str(label)))
                labels.discard(label)
            else:
                problems.append(
                    Problem(
                        str(image),
                        f"no label file {label}",
                        self.missing_label_fix(),
                    )
                )
        problems += [
            Problem(
                str(label),
                "label file without an image",
                "extract the image archive completely",
                severity="warning",
            )
            for label in sorted(labels)
        ]
        return data_list, problems

    def load_data_list(self) -> list[dict]:
        data_list, problems = self.scan()
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise DataMissingError(
                f"{self.NAME} {self.split} at {self.root}: {len(errors)} problem(s)\n"
                + format_problems(errors)
            )
        if self.subset is not None:
            if self.subset > len(data_list):
                raise DataError(
                    f"{self.NAME} {self.split}: subset={self.subset} but only "
                    f"{len(data_list)} samples under {self.image_dir()}. Fix: declare a "
                    f"subset of at most {len(data_list)} (options.subset of the domain, or "
                    "--set source.options.subset=N / target.options.subset=N), or add the "
                    "missing files"
                )
            data_list = data_list[: self.subset]
        return data_list[:: self.stride or 1]

    def fingerprint(self) -> str:
        """sha256 of the sample count and the relative image/label paths used, for the
        run record: copies differ in practice (e.g. 24,941 vs 24,966 GTA5 frames, T14)."""
        paths = [
            str(Path(p).relative_to(self.root))
            for i in range(len(self))
            for p in (self.get_data_info(i)["img_path"], self.get_data_info(i)["seg_map_path"])
            if p is not None
        ]
        return hashlib.sha256("\n".join([str(len(self)), *paths]).encode()).hexdigest()


def register(cls: type[SegDataset]) -> type[SegDataset]:
    """Class decorator: register a dataset in ``DATASETS`` under its ``NAME``."""
    return DATASETS.register_module(name=cls.NAME, module=cls)


def seg_datasets() -> list[str]:
    """Names of the registered segmentation datasets.

    Importing this module imports the whole ``harness.data`` package, so every
    dataset module has registered by the time this is called.
    """
    return sorted(
        name
        for name, cls in DATASETS.module_dict.items()
        if isinstance(cls, type) and issubclass(cls, SegDataset)
    )


def seg_dataset_class(name: str) -> type[SegDataset]:
    return DATASETS.module_dict[check_name("segmentation dataset", name, seg_datasets())]


class FlatPairs(SegDataset):
    """Images and labels in two flat folders, paired by identical file names."""

    IMAGE_DIR: ClassVar[tuple[str, ...]]
    LABEL_DIR: ClassVar[tuple[str, ...]]
    NAME_RE: ClassVar[re.Pattern]  # the file names of the dataset's frames

    def image_dir(self):
        return self.root.joinpath(*self.IMAGE_DIR)

    def label_dir(self):
        return self.root.joinpath(*self.LABEL_DIR)

    def list_images(self):
        return self._matching(self.image_dir())

    def label_path(self, image):
        return self.label_dir() / image.name

    def list_labels(self):
        return self._matching(self.label_dir())

    def _matching(self, folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir() if self.NAME_RE.fullmatch(p.name))
