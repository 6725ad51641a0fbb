"""Segmentation datasets, read as distributed (layouts: datasets.md sections 3-7).

Each dataset lists its image files, pairs each with its label file, and runs
``LoadRGBImage -> LoadSegLabel(label map) -> user pipeline -> PackSegSample``.
An item is ``{"inputs": uint8 [3,H,W] RGB, "label": int64 [H,W] trainIds with
255 = ignore, "meta": {img_path, label_path, ori_shape, img_shape}}``; unlabelled
splits (NTHU train) and ``with_label=False`` give no ``label``.

Listing problems (mislaid root, image without label, ...) are collected by
:meth:`SegDataset.scan`, raised together by the constructor and reported one by
one by :func:`harness.data.check.check_dataset`.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from mmengine.dataset import BaseDataset

from harness.data.labelmaps import CITYSCAPES19_NAMES, get_labelmap
from harness.data.loading import LoadRGBImage, LoadSegLabel, PackSegSample
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
            raise ValueError(
                f"{self.NAME}: unknown split {split!r}; splits: {', '.join(self.SPLIT_SIZES)}"
            )
        labelled = split in self.LABELLED_SPLITS
        if with_label and not labelled:
            raise ValueError(
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
                        "extract the label archive completely, or remove the image",
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
            raise FileNotFoundError(
                f"{self.NAME} {self.split} at {self.root}: {len(errors)} problem(s)\n"
                + format_problems(errors)
            )
        if self.subset is not None:
            if self.subset > len(data_list):
                raise ValueError(
                    f"{self.NAME} {self.split}: subset={self.subset} but only "
                    f"{len(data_list)} samples under {self.image_dir()}"
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


_SEG_DATASETS: dict[str, type[SegDataset]] = {}


def _register(cls: type[SegDataset]) -> type[SegDataset]:
    _SEG_DATASETS[cls.NAME] = cls
    return DATASETS.register_module(name=cls.NAME, module=cls)


def seg_dataset_class(name: str) -> type[SegDataset]:
    try:
        return _SEG_DATASETS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_SEG_DATASETS), n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ValueError(
            f"unknown segmentation dataset '{name}': {hint}known: {', '.join(sorted(_SEG_DATASETS))}"
        ) from None


def seg_datasets() -> list[str]:
    return sorted(_SEG_DATASETS)


def _matching(folder: Path, pattern: re.Pattern) -> list[Path]:
    return sorted(p for p in folder.iterdir() if pattern.fullmatch(p.name))


class _FlatPairs(SegDataset):
    """Images and labels in two flat folders, paired by identical file names."""

    IMAGE_DIR: ClassVar[tuple[str, ...]]
    LABEL_DIR: ClassVar[tuple[str, ...]]
    _NAME_RE: ClassVar[re.Pattern]

    def image_dir(self):
        return self.root.joinpath(*self.IMAGE_DIR)

    def label_dir(self):
        return self.root.joinpath(*self.LABEL_DIR)

    def list_images(self):
        return _matching(self.image_dir(), self._NAME_RE)

    def label_path(self, image):
        return self.label_dir() / image.name

    def list_labels(self):
        return _matching(self.label_dir(), self._NAME_RE)


@_register
class GTA5(_FlatPairs):
    """GTA5 (Richter et al. 2016): all 24,966 frames are the labelled source set."""

    NAME = "gta5"
    LABELMAP = "gta5"
    SPLIT_SIZES = {"train": 24966}  # wasidennis/AdaptSegNet:dataset/gta5_list/train.txt
    LABELLED_SPLITS = ("train",)
    SIZE_MISMATCH = "resize_label"  # datasets.md 3.5: some frames differ by a few pixels
    LAYOUT = (
        "  images/00001.png ... 24966.png   (RGB PNG)\n"
        "  labels/00001.png ... 24966.png   (8-bit palette PNG, Cityscapes labelIds)"
    )
    # Five digits only: skips converted files such as 00001_labelTrainIds.png (DAFormer).
    _NAME_RE = re.compile(r"\d{5}\.png")

    IMAGE_DIR = ("images",)
    LABEL_DIR = ("labels",)


@_register
class Cityscapes(SegDataset):
    """Cityscapes leftImg8bit + gtFine; ``label_type`` picks labelIds (as shipped) or
    labelTrainIds (made by cityscapesScripts' createTrainIdLabelImgs.py)."""

    NAME = "cityscapes"
    LABELMAP = "cityscapes"
    # cityscapesScripts README; wasidennis/AdaptSegNet:dataset/cityscapes_list/{train,val}.txt
    SPLIT_SIZES = {"train": 2975, "val": 500, "test": 1525}
    LABELLED_SPLITS = ("train", "val")  # test gtFine files are placeholders
    LAYOUT = (
        "  leftImg8bit/{train,val,test}/<city>/<city>_<seq>_<frame>_leftImg8bit.png\n"
        "  gtFine/{train,val,test}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png"
    )
    _IMG_SUFFIX = "_leftImg8bit.png"
    _LABEL_SUFFIXES = {
        "labelIds": "_gtFine_labelIds.png",
        "labelTrainIds": "_gtFine_labelTrainIds.png",
    }

    def __init__(self, data_root, split, pipeline=None, subset=None, label_type="labelIds", **kw):
        if label_type not in self._LABEL_SUFFIXES:
            raise ValueError(
                f"cityscapes label_type must be one of {list(self._LABEL_SUFFIXES)}, not {label_type!r}"
            )
        self.label_type = label_type
        super().__init__(data_root, split, pipeline, subset, **kw)

    def labelmap_name(self):
        return "cityscapes" if self.label_type == "labelIds" else "cityscapes_trainids"

    def options(self):
        return {"label_type": self.label_type}

    def image_dir(self):
        return self.root / "leftImg8bit" / self.split

    def label_dir(self):
        return self.root / "gtFine" / self.split

    def list_images(self):
        return sorted(self.image_dir().glob(f"*/*{self._IMG_SUFFIX}"))

    def label_path(self, image):
        stem = image.name[: -len(self._IMG_SUFFIX)]
        return self.label_dir() / image.parent.name / (stem + self._LABEL_SUFFIXES[self.label_type])

    def list_labels(self):
        return sorted(self.label_dir().glob(f"*/*{self._LABEL_SUFFIXES[self.label_type]}"))


@_register
class Synthia(_FlatPairs):
    """SYNTHIA-RAND-CITYSCAPES: all 9,400 frames; ``data_root`` is RAND_CITYSCAPES/."""

    NAME = "synthia"
    LABELMAP = "synthia"
    SPLIT_SIZES = {"train": 9400}  # valeoai/DADA:dada/dataset/synthia_list/all.txt
    LABELLED_SPLITS = ("train",)
    LAYOUT = (
        "  RGB/0000000.png ... 0009399.png        (RGB PNG)\n"
        "  GT/LABELS/0000000.png ... 0009399.png  (16-bit 3-channel PNG, class id in R)"
    )
    _NAME_RE = re.compile(r"\d{7}\.png")

    IMAGE_DIR = ("RGB",)
    LABEL_DIR = ("GT", "LABELS")


NTHU_CITIES = ("Rio", "Rome", "Taipei", "Tokyo")


@_register
class NTHU(SegDataset):
    """NTHU cross-city (Chen et al. 2017): per city 3,200 unlabelled train images and
    100 labelled test images; ``data_root`` is NTHU_Datasets/."""

    NAME = "nthu"
    LABELMAP = "nthu"
    # Counted in ZJULearning/MaxSquareLoss:datasets/NTHU_list/<City>/List/{train,test}.txt
    SPLIT_SIZES = {"train": 3200, "test": 100}
    LABELLED_SPLITS = ("test",)
    LAYOUT = (
        "  <City>/Images/Train/<stem>.jpg        (City: Rio, Rome, Taipei, Tokyo)\n"
        "  <City>/Images/Test/<stem>.png|.jpg\n"
        "  <City>/Labels/Test/<stem>_eval.png    (8-bit, Cityscapes labelIds)"
    )
    _EXTENSIONS = {"train": (".jpg",), "test": (".png", ".jpg")}

    def __init__(self, data_root, split, pipeline=None, subset=None, city="Rome", **kw):
        match = [c for c in NTHU_CITIES if c.lower() == str(city).lower()]
        if not match:
            raise ValueError(f"nthu city must be one of {', '.join(NTHU_CITIES)}, not {city!r}")
        self.city = match[0]
        super().__init__(data_root, split, pipeline, subset, **kw)

    def options(self):
        return {"city": self.city}

    def image_dir(self):
        return self.root / self.city / "Images" / self.split.capitalize()

    def label_dir(self):
        return self.root / self.city / "Labels" / self.split.capitalize()

    def list_images(self):
        exts = self._EXTENSIONS[self.split]
        return sorted(p for p in self.image_dir().iterdir() if p.suffix in exts)

    def label_path(self, image):
        return self.label_dir() / f"{image.stem}_eval.png"

    def list_labels(self):
        return sorted(self.label_dir().glob("*_eval.png"))


@_register
class BDD100K(SegDataset):
    """BDD100K semantic segmentation, 10K images; masks already hold trainIds."""

    NAME = "bdd100k"
    LABELMAP = "bdd100k"
    SPLIT_SIZES = {"train": 7000, "val": 1000, "test": 2000}  # datasets.md 7.2
    LABELLED_SPLITS = ("train", "val")
    LAYOUT = (
        "  images/10k/{train,val,test}/<name>.jpg\n"
        "  labels/sem_seg/masks/{train,val}/<name>.png   (8-bit, trainIds 0..18, 255)"
    )

    def image_dir(self):
        return self.root / "images" / "10k" / self.split

    def label_dir(self):
        return self.root / "labels" / "sem_seg" / "masks" / self.split

    def list_images(self):
        return sorted(self.image_dir().glob("*.jpg"))

    def label_path(self, image):
        return self.label_dir() / f"{image.stem}.png"

    def list_labels(self):
        return sorted(self.label_dir().glob("*.png"))
