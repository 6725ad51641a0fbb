"""Checkpoints: final weights files and mmengine's training checkpoints, all loaded with
``weights_only=True``.

What a run hands on (to ``harness eval`` or to a method that starts from the
source model) is a final weights file: tensors and plain metadata. mmengine's
training checkpoints (``iter_N.pth``, for ``--resume``) also hold optimizer,
scheduler, RNG and logger state; the harness saves that state in plain types
(see :func:`plain_message_hub`), writes the files atomically, names the run they
belong to, and loads them with ``weights_only=True`` like everything else, so a
checkpoint can never run code.
"""

import logging
import pickle
import re
from pathlib import Path

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.logging import HistoryBuffer, print_log
from mmengine.runner import CheckpointLoader

from harness.errors import HarnessError
from harness.paths import FINAL_NAME
from harness.utils import atomic_path, atomic_write

#: The file in a work dir naming its newest training checkpoint (mmengine's name).
LAST_CHECKPOINT = "last_checkpoint"
#: mmengine's file backend name under which training checkpoints are written atomically.
ATOMIC_BACKEND = "harness_atomic"


class CheckpointError(HarnessError, ValueError):
    """A weights file that does not fit the model it is loaded into."""


def save_final(model: torch.nn.Module, path: Path, meta: dict) -> Path:
    with atomic_path(path) as tmp:  # a crash never leaves half a weights file
        torch.save({"state_dict": model.state_dict(), "meta": meta}, tmp)
    return path


def weights_digest(state_dict: dict) -> str:
    """sha256 of a state dict's tensors (names, dtypes, shapes, bytes, in order).

    Equal for bitwise-equal weights, unlike the sha256 of a final weights file, which
    also holds the writing run's meta (its record id): a source-only run retrained to
    the same weights has a new run id but the same digest.
    """
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in state_dict.items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def final_meta_and_digest(path: Path) -> tuple[dict, str]:
    """A final weights file's metadata and :func:`weights_digest` of its tensors, from one
    (memory-mapped) load."""
    blob = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return blob.get("meta", {}), weights_digest(blob["state_dict"])


def load_final_meta(path: Path) -> dict:
    """The metadata of a final weights file; tensors are memory-mapped, not read."""
    blob = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return blob.get("meta", {})


def weights_source(path: Path) -> dict:
    """Where a final weights file came from: its run (from its meta) and its sha256.

    What a record lists for a part a method loaded from another run's weights
    (``method.loaded_weights``): the run, not the machine's path.
    """
    import hashlib

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist; pass the {FINAL_NAME} "
                              "that a run wrote to its work dir")
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    meta = load_final_meta(path)
    return {"run_id": meta.get("run_id"), "method": meta.get("method"),
            "backbone": meta.get("backbone"), "sha256": digest}


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


class ResumeError(HarnessError, ValueError):
    """A work dir whose checkpoints cannot be resumed by this run."""


# -- training checkpoints: plain types, safe loading --------------------------------
def plain(obj):
    """``obj`` with NumPy values and mmengine ``HistoryBuffer``s as plain Python data.

    mmengine pickles its logger state (``HistoryBuffer`` objects of NumPy arrays,
    NumPy scalars); as plain data it loads with ``weights_only=True`` without
    allowing any class to be unpickled.
    """
    if isinstance(obj, HistoryBuffer):
        log, count = obj.data
        return {"history_buffer": {"log": log.tolist(), "count": count.tolist(),
                                   "max_length": obj.max_length}}
    if isinstance(obj, np.ndarray | np.generic):
        return obj.tolist()
    if isinstance(obj, dict):  # also mmengine's ConfigDict (hook arguments)
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(plain(v) for v in obj)
    return obj


def restore_message_hub(state: dict) -> dict:
    """The message-hub state of a checkpoint with its ``HistoryBuffer``s rebuilt."""
    scalars = {name: HistoryBuffer(buf["history_buffer"]["log"],
                                   buf["history_buffer"]["count"],
                                   buf["history_buffer"]["max_length"])
               for name, buf in state.get("log_scalars", {}).items()}
    return {**state, "log_scalars": scalars}


def _refused(filename) -> CheckpointError:
    try:
        found = ", ".join(torch.serialization.get_unsafe_globals_in_checkpoint(filename))
    except (OSError, RuntimeError):  # not a zip checkpoint: an older torch format or pickle
        found = "unknown objects"
    return CheckpointError(
        f"{filename}: refused: besides tensors and plain data it pickles {found}, and "
        "loading it could run code. Only load checkpoints written by this harness."
    )


def load_safely(filename: str, map_location=None) -> dict:
    """Every local checkpoint mmengine loads (``--resume`` included): ``weights_only=True``."""
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise _refused(filename) from None


def install_safe_loading() -> None:
    """Route mmengine's local checkpoint loads (``Runner.resume``, ``load_from``) through
    :func:`load_safely`; mmengine's own loader uses ``weights_only=False``."""
    CheckpointLoader.register_scheme(prefixes="", loader=load_safely, force=True)


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend, writing through a temporary file and a rename:
    a full disk or a kill never leaves a partial ``iter_N.pth``."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(Path(filepath), obj)


register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)


# -- resume ---------------------------------------------------------------------------
def _iteration(path: Path) -> int:
    match = re.fullmatch(r"iter_(\d+)\.pth", path.name)
    return int(match.group(1)) if match else -1


def _candidates(work_dir: Path) -> list[Path]:
    """Training checkpoints, the one ``last_checkpoint`` names first, then newest first."""
    found = sorted((p for p in work_dir.glob("iter_*.pth") if _iteration(p) >= 0),
                   key=_iteration, reverse=True)
    marker = work_dir / LAST_CHECKPOINT
    if marker.is_file():
        # Resolved by name in this work dir: a copied or moved work dir resumes from its
        # own files even if an older harness wrote an absolute path there.
        named = work_dir / Path(marker.read_text().strip()).name
        found = [named] + [p for p in found if p != named]
    return found


def describe_run(run: dict) -> str:
    return (f"run {run.get('key')} (method {run.get('method')}, backbone {run.get('backbone')}, "
            f"seed {run.get('seed')}, protocol hash {str(run.get('protocol_hash'))[:12]}, "
            f"hparams {run.get('hparams')})")


def resume_checkpoint(work_dir: Path, run: dict) -> Path | None:
    """The checkpoint ``--resume`` continues from: the newest one that loads and belongs to
    ``run`` (the plan's identity). None when the work dir has none (training starts).

    A truncated newest checkpoint (a kill or a full disk with an older harness) is
    named and the previous one used; one that could run code, or that another run
    (another seed, setting or method) wrote, is refused.
    """
    skipped = []
    for path in _candidates(Path(work_dir)):
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            raise _refused(path) from None
        except (OSError, RuntimeError, EOFError) as exc:
            skipped.append(f"{path.name} ({type(exc).__name__}: {str(exc).split('. ')[0]})")
            continue
        written_by = checkpoint.get("meta", {}).get("harness_run")
        if written_by is None or written_by.get("key") != run["key"]:
            raise ResumeError(
                f"{path} was written by "
                f"{describe_run(written_by) if written_by else 'an unknown run'}, not by this "
                f"{describe_run(run)}; resume with the original settings, or pass another "
                "--work-dir"
            )
        if skipped:
            print_log(f"cannot load {', '.join(skipped)}; resuming from {path.name}",
                      logger="current", level=logging.WARNING)
        return path
    if skipped:
        raise ResumeError(f"{work_dir}: no training checkpoint can be loaded "
                          f"({', '.join(skipped)}); start again without --resume")
    return None


def write_last_checkpoint(work_dir: Path, checkpoint: str) -> None:
    """Name the newest checkpoint relative to the work dir (a copied work dir stays whole)."""
    atomic_write(Path(work_dir) / LAST_CHECKPOINT, Path(checkpoint).name)
