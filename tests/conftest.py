"""Shared fixtures: tiny, fast settings of the embedded digits protocol."""

from pathlib import Path

import pytest

from harness.results import finalize

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

#: A run of the default protocol cut to seconds: few iterations, frequent checkpoints.
TINY = ["train.iters=12", "train.checkpoint_interval=4", "train.log_interval=4", "eval.points=3"]


@pytest.fixture
def tiny_sets() -> list[str]:
    return list(TINY)


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path, monkeypatch):
    """Runs write work_dirs/ under the test's own folder, never into the checkout."""
    monkeypatch.chdir(tmp_path)


def _make_record(seed=0, acc=50.0, name="digits_mnist_optdigits", protocol_hash="h",
                 method="m", uses_target_labels=False, classes=("a", "b"), task="classification",
                 subsets=None, overrides=None, effective_hash=None, hparams=None,
                 loaded_weights=None, as_written=None, dirty=None, wall_time_s=0.0,
                 peak_rss_mib=None, source_model=None, weights_sha256=None):
    """A valid synthetic record: accuracy and mean class accuracy ``acc`` (one decimal).

    Metrics are derived from a confusion matrix (1,000 samples, all of the first
    class), as records must be; ``subsets``: name -> class names. ``as_written``: a
    protocol whose ``[methods.NAME]`` table the record follows (its effective hash and
    hyper-parameters), as ``harness run`` would write it. ``dirty``: the record's
    ``code.dirty`` (the run started from uncommitted code); ``wall_time_s``,
    ``peak_rss_mib``: its training's cost. ``source_model``: the record's
    ``method.source_model``; ``weights_sha256``: its ``train.weights_sha256``.
    """
    import numpy as np

    if as_written is not None:
        settings = as_written.methods.get(method)
        protocol_hash = as_written.hash
        effective_hash = as_written.for_method(method).hash
        hparams = settings.hparams if settings else {}

    from harness.evaluation.metrics import derive

    n = len(classes)
    confusion = np.zeros((n, n), dtype=np.int64)
    right = round(acc * 10)
    confusion[0, 0], confusion[0, -1] = right, 1000 - right
    subsets = {name: [list(classes).index(c) for c in names]
               for name, names in (subsets or {}).items()}
    dom = {**derive(confusion, list(classes), subsets), "confusion": confusion.tolist()}
    return finalize({
        "created": "2026-01-01T00:00:00+00:00",
        "protocol": {"name": name, "task": task, "hash": protocol_hash,
                     "effective_hash": effective_hash or protocol_hash,
                     "overrides": overrides or {},
                     "variant_of": None, "target_labels": False},
        "method": {"name": method, "hparams": hparams or {},
                   "uses_target_labels": uses_target_labels,
                   "train_domains": ["source"], "source_model": source_model,
                   "loaded_weights": loaded_weights or {}},
        "backbone": {"name": "lenet", "options": {}, "params": 1},
        "seed": seed, "code": {"version": "0", "git_sha": None, "dirty": dirty},
        "packages": {}, "device": {"type": "cpu", "name": "cpu", "world_size": 1,
                                   "amp": "none", "torch_threads": 1},
        "data": {split: {"n": 4, "fingerprint": "f"} for split in ("source_test", "target_test")},
        "classes": {"name": "c", "version": "1", "fingerprint": "f", "subsets": []},
        "selection": {"rule": "last", "iter": 1, "uses_target_labels": False},
        "train": {"iters": 1, "wall_time_s": wall_time_s, "peak_rss_mib": peak_rss_mib,
                  "weights_sha256": weights_sha256, "config": {}},
        "metrics": {"target": dom, "source": dom},
    })


@pytest.fixture
def make_record():
    return _make_record


def _build_method(protocol: str, method: str, backbone: str | None = None, sets=()):
    """A method and its optimizer wrapper, built as ``harness run`` builds them (without
    the cached source model, which a unit test does not train)."""
    import torch
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    from harness.config import compile_config
    from harness.plan import make_plan
    from harness.registry import MODELS

    cfg = compile_config(make_plan(protocol, method, backbone, 0, list(sets), quiet=True))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope("harness"):
        model = MODELS.build(dict(cfg.model, source_checkpoint=None))
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    return model, wrapper


@pytest.fixture
def build_method():
    return _build_method
