"""Tiny format-faithful ILSVRC2012 validation trees for tests (datasets.md §14.10).

Real file names (``ILSVRC2012_val_00000001.JPEG``), real devkit files
(``meta.mat`` as the devkit's struct array, one ground-truth id per line), JPEGs
in the three modes the real set holds (RGB, grayscale, CMYK), in the flat layout
of the validation tar or torchvision's ``val/<wnid>/`` folders. The leaf synsets
are listed out of WNID order, so a loader that uses ``ILSVRC2012_ID - 1`` as the
class index gets different labels than the sorted-WNID index.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from harness.data.imagenet_val import (
    DEVKIT_DATA,
    FILE_NAME,
    FOLDER_DIR,
    GROUND_TRUTH,
    IMAGE_DIR,
    META,
)

# (ILSVRC2012_ID, WNID, words) of three leaves, as in the devkit (datasets.md §12.3).
FIXTURE_LEAVES = (
    (1, "n02119789", "kit fox, Vulpes macrotis"),
    (2, "n02100735", "English setter"),
    (3, "n01751748", "sea snake"),
)
# One ancestor synset, which the loader must not count as a class.
FIXTURE_ANCESTOR = (1001, "n00001740", "entity")
# The eight fields of meta.mat's ``synsets`` (devkit readme.txt).
SYNSET_FIELDS = ("ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children",
                 "wordnet_height", "num_train_images")
# Image modes cycled over the ids: the real set has grayscale and CMYK JPEGs (§12.4).
MODES = ("RGB", "L", "CMYK")


def fixture_ground_truth(image_id: int) -> int:
    """The ILSVRC2012_ID the fixture gives image ``image_id``: 1, 2, 3, 1, 2, 3, ..."""
    return FIXTURE_LEAVES[(image_id - 1) % len(FIXTURE_LEAVES)][0]


def _synsets() -> np.ndarray:
    rows = [(i, w, words, 0, np.zeros(0), 0, 1300) for i, w, words in FIXTURE_LEAVES]
    ancestor_id, wnid, words = FIXTURE_ANCESTOR
    children = np.array([i for i, _, _ in FIXTURE_LEAVES], dtype=np.float64)
    rows.append((ancestor_id, wnid, words, len(children), children, 1, 0))
    table = np.zeros((len(rows), 1), dtype=[(f, object) for f in SYNSET_FIELDS])
    for k, (sid, wnid, words, n_children, kids, height, n_train) in enumerate(rows):
        table[k, 0] = (np.float64(sid), wnid, words, f"gloss of {words}", np.float64(n_children),
                       kids, np.float64(height), np.float64(n_train))
    return table


def _save_jpeg(path: Path, image_id: int, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(image_id)
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb.convert(MODES[(image_id - 1) % len(MODES)]).save(path, "JPEG", quality=95)


def write_imagenet_val(
    out: Path,
    n: int = 3,
    size: tuple[int, int] = (20, 16),
    *,
    ids: list[int] | None = None,
    layout: str = "flat",
    devkit: bool = True,
) -> Path:
    """Write images ``ids`` (default 1..n) in ``layout`` (``flat`` | ``folders``) under ``out``.

    ``size`` is (width, height). The ground truth has one line per id up to the
    largest one written. Returns ``out``, the data root of ``imagenet_val``.
    """
    out = Path(out)
    ids = list(ids) if ids is not None else list(range(1, n + 1))
    wnid_of = {sid: wnid for sid, wnid, _ in FIXTURE_LEAVES}
    for image_id in ids:
        if layout == "flat":
            folder = out / IMAGE_DIR
        elif layout == "folders":
            folder = out / FOLDER_DIR / wnid_of[fixture_ground_truth(image_id)]
        else:
            raise ValueError(f"layout must be 'flat' or 'folders', not {layout!r}")
        _save_jpeg(folder / FILE_NAME.format(image_id), image_id, size)
    if devkit:
        from scipy.io import savemat

        data = out / DEVKIT_DATA
        data.mkdir(parents=True, exist_ok=True)
        savemat(data / META, {"synsets": _synsets()})
        lines = [str(fixture_ground_truth(i)) for i in range(1, max(ids) + 1)]
        (data / GROUND_TRUTH).write_text("\n".join(lines) + "\n")
    return out
