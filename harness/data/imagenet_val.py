"""ILSVRC2012 validation images as AdapterNet's benchmark (seed 003 §4), seen by a camera.

Two layouts are read (datasets.md §12.1): the flat folder of the validation tar,
``<root>/ILSVRC2012_img_val/ILSVRC2012_val_00000001.JPEG`` ..., labelled by the
devkit; or torchvision's ``<root>/val/<wnid>/`` folders. The devkit is expected at
``<root>/ILSVRC2012_devkit_t12/data/`` (``meta.mat`` and
``ILSVRC2012_validation_ground_truth.txt``).

The class index is the position of the image's WNID among the sorted WNIDs of the
1,000 classes, the index torchvision's ImageNet weights predict; the ground-truth
file holds ILSVRC2012_IDs, whose order differs (datasets.md §12.3), so an
``ILSVRC2012_ID - 1`` label would be silently wrong.
"""

import hashlib
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as F

from harness.data.simcam_splits import build_camera, id_range
from harness.errors import HarnessError
from harness.registry import DATASETS

IMAGE_DIR = "ILSVRC2012_img_val"
FOLDER_DIR = "val"
DEVKIT_DATA = Path("ILSVRC2012_devkit_t12") / "data"
GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
META = "meta.mat"
FILE_NAME = "ILSVRC2012_val_{:08d}.JPEG"
_FILE_PATTERN = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG")
# ILSVRC2012 classifies 1,000 leaf synsets (devkit readme, datasets.md §12.2).
NUM_CLASSES = 1000
# torchvision VGG16_Weights.IMAGENET1K_V1.transforms: ImageClassification(crop_size=224,
# resize_size=256), bilinear with antialiasing.
RESIZE, CROP = 256, 224


class ImageNetLayoutError(HarnessError, ValueError):
    """The ImageNet validation files are not where or what the loader expects."""


def read_leaf_synsets(path: Path) -> dict[int, str]:
    """``meta.mat`` -> {ILSVRC2012_ID: WNID} of the leaf synsets (``num_children == 0``)."""
    from scipy.io import loadmat

    try:
        synsets = np.atleast_1d(loadmat(path, squeeze_me=True)["synsets"])
        return {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in synsets
                if int(s["num_children"]) == 0}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ImageNetLayoutError(
            f"{path}: cannot read the devkit's 'synsets' struct ({type(exc).__name__}: {exc}); "
            "extract ILSVRC2012_devkit_t12.tar.gz unchanged"
        ) from exc


def read_ground_truth(path: Path) -> list[int]:
    """Line i of the ground truth = ILSVRC2012_ID of image i (ids from 1)."""
    ids = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip().isdigit():
            raise ImageNetLayoutError(
                f"{path}, line {number}: {line!r} is not an ILSVRC2012_ID; the file holds one "
                "integer 1..1000 per line (restore it from the devkit)"
            )
        ids.append(int(line))
    return ids


def sorted_wnid_index(wnids) -> dict[str, int]:
    """WNID -> class index: its position in the lexicographically sorted WNIDs."""
    return {wnid: index for index, wnid in enumerate(sorted(set(wnids)))}


def _find_images(root: Path) -> tuple[str, dict[int, Path]]:
    layouts = {name: root / name for name in (IMAGE_DIR, FOLDER_DIR) if (root / name).is_dir()}
    if len(layouts) != 1:
        found = " and ".join(str(p) for p in layouts.values()) or "neither"
        raise ImageNetLayoutError(
            f"{root}: expected exactly one of {IMAGE_DIR}/ (the flat folder of "
            f"ILSVRC2012_img_val.tar) or {FOLDER_DIR}/<wnid>/ (torchvision's layout), found "
            f"{found}; point --data-root at the folder that holds one of them"
        )
    (layout, folder), = layouts.items()
    images: dict[int, Path] = {}
    for path in sorted(folder.glob("*.JPEG" if layout == IMAGE_DIR else "*/*.JPEG")):
        match = _FILE_PATTERN.fullmatch(path.name)
        if match is None:
            continue
        image_id = int(match.group(1))
        if image_id in images:
            raise ImageNetLayoutError(
                f"{path} and {images[image_id]}: the same image id {image_id} twice; keep one"
            )
        images[image_id] = path
    return layout, images


class _Labels:
    """Class index of every image id, from the devkit and/or the folder names."""

    def __init__(self, root: Path, layout: str, images: dict[int, Path]):
        devkit = root / DEVKIT_DATA
        files = [devkit / META, devkit / GROUND_TRUTH]
        present = [f.is_file() for f in files]
        self.wnid_of: dict[int, str] = {}
        if all(present):
            synsets = read_leaf_synsets(files[0])
            truth = read_ground_truth(files[1])
            for image_id in images:
                if image_id > len(truth) or truth[image_id - 1] not in synsets:
                    raise ImageNetLayoutError(
                        f"{files[1]}: no leaf ILSVRC2012_ID for image {image_id} "
                        f"({len(truth)} lines, {len(synsets)} leaf synsets in {files[0]}); "
                        "use the ground truth and meta.mat of the same devkit"
                    )
                self.wnid_of[image_id] = synsets[truth[image_id - 1]]
            self.wnids = sorted(synsets.values())
        elif layout == IMAGE_DIR or any(present):
            missing = ", ".join(str(f) for f, ok in zip(files, present) if not ok)
            raise ImageNetLayoutError(
                f"missing {missing}: the flat layout is labelled by the devkit's meta.mat and "
                "ground truth; extract ILSVRC2012_devkit_t12.tar.gz into the data root"
            )
        else:
            self.wnids = sorted(p.name for p in (root / FOLDER_DIR).iterdir() if p.is_dir())
        if layout == FOLDER_DIR:
            for image_id, path in images.items():
                folder = path.parent.name
                if self.wnid_of.setdefault(image_id, folder) != folder:
                    raise ImageNetLayoutError(
                        f"{path}: in folder {folder} but the devkit ground truth says "
                        f"{self.wnid_of[image_id]}; the folders and the devkit disagree"
                    )
        self.index = sorted_wnid_index(self.wnids)

    def __call__(self, image_id: int) -> int:
        return self.index[self.wnid_of[image_id]]


@DATASETS.register_module(name="imagenet_val")
class ImageNetVal(Dataset):
    """One id range of the ILSVRC2012 validation set through ``camera`` (``none`` = clean).

    Items: ``{"inputs": uint8 [3, crop, crop] RGB, "label": int64}``. The camera acts
    on the decoded 8-bit image, as the paper transformed the stored images (§5),
    before the resize/centre-crop the frozen model's preprocessing does.
    ``id_ranges`` maps split names to inclusive ``[first, last]`` image ids; every
    id of the requested split must be present.
    """

    def __init__(
        self,
        data_root: str,
        split: str,
        id_ranges: dict[str, list[int]],
        camera: str = "none",
        num_classes: int = NUM_CLASSES,
        resize: int = RESIZE,
        crop: int = CROP,
    ):
        root = Path(data_root)
        where = f"imagenet_val at {root}"
        ids = id_range(id_ranges, split, where)
        self.camera_name = camera
        self.camera = build_camera(camera, where)
        layout, images = _find_images(root)
        missing = [i for i in ids if i not in images]
        if missing:
            raise ImageNetLayoutError(
                f"{root}: {len(missing)} of the {len(ids)} images of split {split!r} (ids "
                f"{ids.start}..{ids.stop - 1}) are missing, first {FILE_NAME.format(missing[0])}; "
                "extract the complete ILSVRC2012_img_val.tar"
            )
        labels = _Labels(root, layout, {i: images[i] for i in ids})
        if len(labels.wnids) != num_classes:
            raise ImageNetLayoutError(
                f"{root}: {len(labels.wnids)} classes found (devkit leaf synsets, else the "
                f"{FOLDER_DIR}/ folders) but num_classes = {num_classes}; class indices would "
                "shift; restore the missing classes or the devkit"
            )
        self.root, self.split = root, split
        self.samples = [(images[i], labels(i)) for i in ids]
        self.resize, self.crop = resize, crop
        self.metainfo = {"dataset": "imagenet_val", "split": split, "camera": camera,
                         "layout": layout}

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        path, label = self.samples[i]
        with Image.open(path) as image:
            # Some validation JPEGs are grayscale or CMYK (datasets.md §12.4).
            pixels = F.pil_to_tensor(image.convert("RGB"))
        if self.camera is not None:
            pixels = self.camera(pixels)
        pixels = F.center_crop(F.resize(pixels, [self.resize], antialias=True), [self.crop])
        return {"inputs": pixels, "label": torch.tensor(label, dtype=torch.int64)}

    def fingerprint(self) -> str:
        """sha256 of the files, labels, camera and preprocessing this split uses."""
        h = hashlib.sha256(f"{self.camera_name} {self.resize} {self.crop}\n".encode())
        for path, label in self.samples:
            h.update(f"{path.relative_to(self.root).as_posix()} {label}\n".encode())
        return h.hexdigest()
