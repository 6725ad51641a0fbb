"""Final weights files: tensors and plain metadata only, so they load with ``weights_only=True``.

mmengine's training checkpoints (``iter_N.pth``) pickle optimizer and logger
state and are used for ``--resume``; what a run hands on (to ``harness eval``
or to a method that starts from the source model) is this smaller file.
"""

from pathlib import Path

import torch

from harness.errors import HarnessError
from harness.paths import FINAL_NAME
from harness.utils import atomic_path


class CheckpointError(HarnessError, ValueError):
    """A weights file that does not fit the model it is loaded into."""


def save_final(model: torch.nn.Module, path: Path, meta: dict) -> Path:
    with atomic_path(path) as tmp:  # a crash never leaves half a weights file
        torch.save({"state_dict": model.state_dict(), "meta": meta}, tmp)
    return path


def load_final_meta(path: Path) -> dict:
    """The metadata of a final weights file; tensors are memory-mapped, not read."""
    blob = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return blob.get("meta", {})


def load_final(model: torch.nn.Module, path: Path, prefix: str = "") -> dict:
    """Load strictly into ``model``; every mismatch is named. Returns the file's meta.

    ``prefix`` keeps only the file's keys that start with it (``net.``: the backbone
    of a method's weights, for a method that starts from the source model).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass the {FINAL_NAME} "
                              "that a run wrote to its work dir")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError or RuntimeError here
        raise CheckpointError(
            f"{path}: cannot be loaded with weights_only=True ({type(exc).__name__}). Pass the "
            f"{FINAL_NAME} that every run writes to its work dir, not a training checkpoint."
        ) from None
    if not isinstance(blob, dict) or "state_dict" not in blob:
        raise CheckpointError(f"{path}: no 'state_dict' entry; expected a {FINAL_NAME} file")
    state = {k: v for k, v in blob["state_dict"].items() if k.startswith(prefix)}
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(state)) if state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        meta = blob.get("meta", {})
        raise CheckpointError(
            f"{path} does not fit this model (file was written for {meta.get('method')} / "
            f"{meta.get('backbone')} / {meta.get('num_classes')} classes): "
            f"{len(missing)} missing keys {missing[:5]}, {len(unexpected)} unexpected keys "
            f"{unexpected[:5]}, {len(shapes)} shape mismatches {shapes[:5]}. Use the same "
            "--method, --backbone and protocol classes as the run that wrote it."
        )
    model.load_state_dict(state)
    return blob.get("meta", {})
