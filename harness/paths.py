"""Where a run's files go: work dirs, the data root, run keys and the source-model cache.

Every path and cache key the harness derives is computed here, once, so that a
change (a new cache layout, a new key ingredient) cannot miss a caller.
"""

import os
from pathlib import Path

from harness import PROJECT_ROOT
from harness.utils import stable_hash

#: Final weights of every run, in its work dir.
FINAL_NAME = "model_final.pth"
#: Weights at the evaluation point the protocol's selection rule picks (not ``last``).
SELECTED_NAME = "model_selected.pth"


def data_root(given: Path | None = None) -> Path:
    """``--data-root``, else ``$HARNESS_DATA``, else ``./data`` in the checkout."""
    return Path(given or os.environ.get("HARNESS_DATA", PROJECT_ROOT / "data"))


def cache_root() -> Path:
    """Trained source models shared between runs: ``$HARNESS_CACHE`` or work_dirs/source_models."""
    return Path(os.environ.get("HARNESS_CACHE", Path("work_dirs") / "source_models"))


def run_key(protocol_hash: str, method: str, backbone: str, seed: int, hparams: dict,
            model_options: dict) -> str:
    """Short hash of everything that changes a run's result (it names the work dir)."""
    return stable_hash([protocol_hash, method, backbone, seed, hparams, model_options], 10)


def work_dir(protocol: str, method: str, backbone: str, seed: int, key: str) -> Path:
    return Path("work_dirs") / protocol / f"{method}-{backbone}-s{seed}-{key}"


def source_model_file(protocol, backbone: str, model_options: dict, seed: int) -> Path:
    """Cached source-only weights for methods that start from a trained source model.

    Keyed by what the source model depends on: the protocol's source domain,
    classes and training settings, the backbone (and its options) and the seed.
    """
    parts = [protocol.source.model_dump(mode="json"), protocol.classes,
             protocol.train.model_dump(mode="json"), backbone, model_options, seed]
    sel = protocol.selection
    if sel.source_val_fraction is not None:  # the source model never trains on source-val
        parts.append([sel.source_val_fraction, sel.source_val_seed])
    key = stable_hash(parts, 10)
    return cache_root() / protocol.name / f"{backbone}-s{seed}-{key}" / FINAL_NAME


def cache_entry_name(path: Path) -> str:
    """The cache key of a source-model file, as records name it (never a machine path)."""
    return f"{path.parent.parent.name}/{path.parent.name}"
