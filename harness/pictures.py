"""Pictures a method hands back at the end of a run (``UDAMethod.pictures``), as PNG files.

Methods never write files. After training the harness asks the method for its
pictures (name -> HxWx3 uint8 array, e.g. 3C-GAN's generated samples per class),
encodes each as PNG, lists ``name -> sha256`` in the record (so a picture is as
traceable as a number), and writes the files into the run's work dir and beside the
record: ``<results>/<protocol>/<run_id>.<name>.png``. Leaderboard pages link them.
"""

import hashlib
import io
import os
import re
from pathlib import Path

import numpy as np
from PIL import Image

from harness.utils import atomic_write

#: Picture names become file names: lower-case words, digits, ``_`` and ``-``.
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def image_grid(images, per_row: int, max_side: int | None = None,
               pad_value: float = 0.0) -> np.ndarray:
    """[N, C, H, W] images in [0, 1] -> one HxWx3 uint8 grid of ``per_row`` columns
    (what ``UDAMethod.pictures`` returns). Grey images are repeated to 3 channels.

    Tiles larger than ``max_side`` (segmentation crops, 224x224 Office images) are
    shrunk so that their longer side is ``max_side``: a picture for a page, not data.
    """
    import torch.nn.functional as F
    from torchvision.utils import make_grid

    images = images.detach().float().cpu()
    h, w = images.shape[-2:]
    if max_side is not None and max(h, w) > max_side:
        size = (max(1, round(h * max_side / max(h, w))), max(1, round(w * max_side / max(h, w))))
        images = F.interpolate(images, size=size, mode="bilinear", antialias=True,
                               align_corners=False)
    grid = make_grid(images, nrow=per_row, padding=2, pad_value=pad_value)
    return np.ascontiguousarray((grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy())


def encode_pictures(pictures: dict[str, np.ndarray], method: str) -> dict[str, bytes]:
    """name -> PNG bytes; a bad name or array is a bug in the method, named here."""
    encoded = {}
    for name, array in sorted(pictures.items()):
        if not NAME.fullmatch(name):
            raise ValueError(f"{method}.pictures(): name {name!r} must match {NAME.pattern}")
        array = np.asarray(array)
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"{method}.pictures()[{name!r}]: expected an HxWx3 uint8 array, "
                             f"got {array.dtype} {array.shape}")
        buf = io.BytesIO()
        # PNG written without time stamps: equal pixels give equal bytes and hashes.
        Image.fromarray(array).save(buf, format="PNG")
        encoded[name] = buf.getvalue()
    return encoded


def digests(encoded: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(png).hexdigest() for name, png in encoded.items()}


def picture_file(record_path: Path, name: str) -> Path:
    """The PNG beside a record file: ``<run_id>.<name>.png``."""
    return Path(record_path).with_suffix(f".{name}.png")


def write_pictures(encoded: dict[str, bytes], work_dir: Path, record_path: Path | None) -> None:
    for name, png in encoded.items():
        atomic_write(Path(work_dir) / "pictures" / f"{name}.png", png)
        if record_path is not None:
            atomic_write(picture_file(record_path, name), png)


def picture_problems(records, runs_dir: Path) -> list[str]:
    """Pictures a committed record lists whose file is missing or differs from its hash."""
    problems = []
    for r in records:
        for name, sha in r.pictures.items():
            path = picture_file(Path(runs_dir) / r.protocol.name / f"{r.run_id}.json", name)
            if not path.is_file():
                problems.append(f"{path}: missing (record {r.run_id} lists picture {name!r}); "
                                "copy it from the run's results dir")
            elif hashlib.sha256(path.read_bytes()).hexdigest() != sha:
                problems.append(f"{path}: differs from the sha256 in record {r.run_id}; "
                                "restore the file the run wrote")
    return problems


def picture_links(records, runs_dir: Path, page_dir: Path) -> list[tuple[str, str]]:
    """(caption, link relative to the page) for every picture of ``records``."""
    links = []
    # External submissions hand back no pictures (and have no backbone).
    trained = [r for r in records if r.backbone is not None]
    for r in sorted(trained, key=lambda r: (r.method.name, r.backbone.name, r.seed)):
        for name in sorted(r.pictures):
            path = picture_file(Path(runs_dir) / r.protocol.name / f"{r.run_id}.json", name)
            link = Path(os.path.relpath(path, page_dir)).as_posix()
            links.append((f"{r.method.name} / {r.backbone.name} / seed {r.seed}: {name}", link))
    return links
