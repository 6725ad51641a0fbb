"""``harness data prepare``: generate the files a loader reads that an archive does not ship.

Cityscapes: ``*_gtFine_labelTrainIds.png`` (read with ``label_type="labelTrainIds"``)
is not in ``gtFine_trainvaltest.zip``. cityscapesScripts makes it with
``cityscapesscripts/preparation/createTrainIdLabelImgs.py``, which rasterises every
``gtFine/*/*/*_gtFine_polygons.json`` with trainIds (``json2labelImg(..., "trainIds")``).
Here the shipped ``*_gtFine_labelIds.png`` go through the harness's own ``cityscapes``
label map instead: ``json2labelImg`` draws the labelIds and the trainIds images from the
same polygons in the same order (and skips license plates in both), so mapping each
labelIds pixel to its trainId gives the same image, without the polygons or the
cityscapesScripts package, and with the map the loaders use (ids are validated).

Each file is written atomically and existing files are kept, so an interrupted run
continues where it stopped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from rich.console import Console
from rich.progress import Progress

from harness.data.labelmaps import get_labelmap
from harness.data.loading import load_label
from harness.data.seg_base import Problem, format_problems
from harness.errors import HarnessError
from harness.names import check_name
from harness.utils import atomic_path

LABEL_IDS_SUFFIX = "_gtFine_labelIds.png"
TRAIN_IDS_SUFFIX = "_gtFine_labelTrainIds.png"


class PrepareError(HarnessError, ValueError):
    """The files to prepare from are missing or not what the dataset ships."""


@dataclass(frozen=True)
class Prepared:
    written: int
    #: Files already there, left as they are.
    skipped: int


def cityscapes_train_ids(data_root: Path, console: Console | None = None,
                         workers: int | None = None) -> Prepared:
    """Write ``<stem>_gtFine_labelTrainIds.png`` beside every ``<stem>_gtFine_labelIds.png``
    under ``data_root/gtFine`` (every split), 8-bit L with trainIds 0..18 and 255."""
    gt = Path(data_root) / "gtFine"
    sources = sorted(gt.glob(f"*/*/*{LABEL_IDS_SUFFIX}")) if gt.is_dir() else []
    if not sources:
        raise PrepareError(
            f"{gt}: no gtFine/<split>/<city>/<stem>{LABEL_IDS_SUFFIX} files; point --data-root "
            "at the Cityscapes folder (the one holding gtFine/) and extract "
            "gtFine_trainvaltest.zip there"
        )
    todo = [(s, s.with_name(s.name[: -len(LABEL_IDS_SUFFIX)] + TRAIN_IDS_SUFFIX))
            for s in sources]
    todo = [(s, t) for s, t in todo if not t.exists()]
    labelmap = get_labelmap("cityscapes")

    def convert(pair: tuple[Path, Path]) -> Problem | None:
        source, target = pair
        try:
            train_ids = load_label(str(source), labelmap)
        except (OSError, ValueError) as err:
            return Problem(str(source), str(err).removeprefix(f"{source}: "),
                           "replace the file with the one from gtFine_trainvaltest.zip")
        with atomic_path(target) as tmp:
            Image.fromarray(train_ids).save(tmp, format="PNG")  # uint8 HxW -> mode L
        return None

    problems = []
    # Decoding and encoding PNGs release the GIL: threads keep all cores busy.
    with (Progress(console=console or Console(stderr=True), transient=True) as progress,
          ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool):
        task = progress.add_task(f"labelTrainIds under {gt}", total=len(todo))
        for problem in pool.map(convert, todo):
            progress.advance(task)
            if problem is not None:
                problems.append(problem)
    if problems:
        raise PrepareError(
            f"{len(problems)} of {len(todo)} label files could not be converted (the others "
            "were written; rerun after fixing these):\n" + format_problems(problems)
        )
    return Prepared(written=len(todo), skipped=len(sources) - len(todo))


#: Dataset name -> what ``harness data prepare --dataset NAME`` runs.
PREPARERS: dict[str, Callable[..., Prepared]] = {"cityscapes": cityscapes_train_ids}


def prepare(dataset: str, data_root: Path, console: Console | None = None) -> Prepared:
    check_name("dataset to prepare", dataset, PREPARERS)
    return PREPARERS[dataset](data_root, console)
