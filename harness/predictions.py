"""Prediction files of a protocol's target test split, as any codebase can write them.

* Segmentation: one 8-bit single-channel PNG per test image (Pillow mode L, or P whose
  indices are the ids), named ``<stem of the test image>.png``, at the label's full
  resolution, holding trainIds of the protocol's class list (255: no class).
* Classification: ``predictions.csv`` with the header ``image_id,class``: the index of the
  image in the target test split and the index of the predicted class in the class list.

``harness eval --checkpoint F --export-predictions DIR`` writes them from a harness model;
``harness eval --predictions DIR`` scores them (:mod:`harness.external`).

``--export-format cityscapes`` writes what the Cityscapes evaluation server takes instead:
the same PNGs holding labelIds, each trainId t replaced by the labelId that the project's
``cityscapes`` label map sends to t (0 road -> 7, 1 sidewalk -> 8, ... 18 bicycle -> 33;
the inverse of ``CITYSCAPES_ID_TO_TRAINID``, one-to-one on the 19 classes). Those files are
for the server; the harness scores trainIds.
"""

import csv
import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image

from harness.data.labelmaps import CITYSCAPES_ID_TO_TRAINID
from harness.data.seg_base import Problem
from harness.plan import PlanError, RunPlan
from harness.utils import IGNORE_INDEX, atomic_path, atomic_write

CSV_NAME = "predictions.csv"
CSV_HEADER = ["image_id", "class"]
FORMATS = ("trainids", "cityscapes")
#: Pillow modes holding one 8-bit id per pixel ('P': the palette index is the id).
ID_MODES = ("L", "P")


def png_name(img_path: str) -> str:
    """The prediction file of a test image: the image's stem, as PNG."""
    return f"{Path(img_path).stem}.png"


def cityscapes_label_ids() -> np.ndarray:
    """trainId -> Cityscapes labelId lookup table (the inverse of the project's cityscapes
    label map; 255, no class, becomes labelId 0, "unlabeled"), for the official server."""
    lut = np.zeros(256, dtype=np.uint8)
    for label_id, train_id in CITYSCAPES_ID_TO_TRAINID.items():
        lut[train_id] = label_id
    return lut


def predictions_sha256(files: list[Path]) -> str:
    """sha256 of the sorted lines ``<file name> <sha256 of the file>``: what was scored."""
    lines = sorted(f"{f.name} {hashlib.sha256(f.read_bytes()).hexdigest()}\n" for f in files)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def read_png(path: Path, size: tuple[int, int], num_classes: int
             ) -> tuple[np.ndarray | None, list[Problem]]:
    """The ids of a prediction PNG of label size ``size`` = (H, W), or its problems."""
    try:
        with Image.open(path) as image:
            mode, (width, height) = image.mode, image.size
            ids = np.asarray(image) if mode in ID_MODES else None
    except (OSError, SyntaxError, ValueError) as exc:
        return None, [Problem(str(path), f"not a readable PNG ({exc})",
                              "write the file again as an 8-bit PNG")]
    problems = []
    if ids is None:
        kind = "colour mode" if mode in ("RGB", "RGBA", "LA", "CMYK", "YCbCr") else "bit depth"
        problems.append(Problem(str(path), f"{kind}: Pillow mode {mode!r}, not an 8-bit "
                                "single-channel id map (mode L or P)",
                                "save the trainIds as an 8-bit grayscale PNG, not a colour "
                                "rendering or a 16-bit image"))
    if (height, width) != tuple(size):
        problems.append(Problem(str(path), f"size {width}x{height}, but its label is "
                                f"{size[1]}x{size[0]} (WxH)",
                                "predict at the label's full resolution"))
    if ids is not None and not problems:
        bad = np.unique(ids[(ids >= num_classes) & (ids != IGNORE_INDEX)])
        if bad.size:
            problems.append(Problem(str(path), f"ids {', '.join(map(str, bad[:10]))} are not in "
                                    f"the class list (0..{num_classes - 1}, or 255)",
                                    "write trainIds of the protocol's classes"))
    return (None if problems else ids), problems


def read_csv(path: Path, n_images: int, num_classes: int
             ) -> tuple[np.ndarray | None, list[Problem]]:
    """The predicted class of each image of the split, or every problem of the CSV."""
    fix_ids = f"one row per test image, image_id 0..{n_images - 1}"
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(str(path), f"not a readable CSV ({exc})", f"write {CSV_NAME}")]
    if not rows or [c.strip() for c in rows[0]] != CSV_HEADER:
        return None, [Problem(str(path), f"header {rows[0] if rows else '(empty file)'}, not "
                              f"{','.join(CSV_HEADER)}", f"start the file with "
                              f"{','.join(CSV_HEADER)}")]
    preds = np.full(n_images, -1, dtype=np.int64)
    problems, seen = [], {}
    for line, row in enumerate(rows[1:], start=2):
        where = f"{path}:{line}"
        try:
            image_id, cls = (int(v) for v in row)
        except ValueError:
            problems.append(Problem(where, f"row {row} is not two integers", fix_ids))
            continue
        if not 0 <= image_id < n_images:
            problems.append(Problem(where, f"unknown image_id {image_id}", fix_ids))
        elif image_id in seen:
            problems.append(Problem(where, f"duplicate image_id {image_id} (first on line "
                                    f"{seen[image_id]})", "keep one prediction per image"))
        else:
            seen[image_id] = line
            preds[image_id] = cls
        if not 0 <= cls < num_classes:
            problems.append(Problem(where, f"class {cls} is not in the class list "
                                    f"(0..{num_classes - 1})", "write class indices"))
    missing = np.flatnonzero(preds < 0)
    if missing.size and not any("image_id" in p.problem for p in problems):
        problems.append(Problem(str(path), f"no prediction for {missing.size} image(s): ids "
                                f"{', '.join(map(str, missing[:10]))}" +
                                (" ..." if missing.size > 10 else ""), fix_ids))
    return (None if problems else preds), problems


def _write_png(path: Path, ids: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(ids.astype(np.uint8), mode="L").save(tmp, format="PNG")


def export_predictions(plan: RunPlan, checkpoint: Path, out_dir: Path,
                       fmt: str = "trainids") -> int:
    """Write the predictions of ``checkpoint`` on the target test split; returns how many
    images this process wrote (several processes each write their share)."""
    import torch
    from mmengine.dist import collect_results

    from harness.checkpoint_eval import checkpoint_runner

    segmentation = plan.protocol.task == "segmentation"
    if fmt == "cityscapes" and (not segmentation or plan.classes.name != "cityscapes19"):
        raise PlanError(f"--export-format cityscapes writes Cityscapes labelIds of the 19 "
                        f"classes; {plan.protocol.name} predicts {plan.classes.name}: use "
                        "--export-format trainids")
    runner = checkpoint_runner(plan, checkpoint)
    model, loader = runner.model, runner.val_loop.loaders["target"]
    model.eval()
    lut = cityscapes_label_ids() if fmt == "cityscapes" else np.arange(256, dtype=np.uint8)
    out_dir = Path(out_dir)
    written, classes = 0, []
    with torch.no_grad():
        for batch in loader:
            pred = model.val_step(batch)[0]["pred"].cpu().numpy()
            if not segmentation:
                classes += pred.tolist()
                continue
            for img_path, ids in zip(batch["meta"]["img_path"], pred, strict=True):
                _write_png(out_dir / png_name(img_path), lut[ids])
                written += 1
    if segmentation:
        return written
    # The evaluation sampler gives each process every world-th image: gather them in order.
    classes = collect_results(classes, len(loader.dataset), "gpu")
    if classes is None:
        return 0
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([CSV_HEADER, *enumerate(classes)])
    atomic_write(out_dir / CSV_NAME, text.getvalue())
    return len(classes)
