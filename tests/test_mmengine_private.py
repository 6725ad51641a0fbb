"""Tripwires for the private mmengine and mmcv names the harness relies on.

Each test checks that a name still exists with the signature and behaviour
``harness/mmengine_private.py`` (or ``harness/mmcv_compat.py``) relies on, and
fails with a message saying what to update when a new release changes it.
"""

import importlib
import inspect
import sys

import mmcv
import mmengine
import pytest
from mmengine.dataset import DefaultSampler
from mmengine.model import BaseModel
from mmengine.registry import Registry
from mmengine.runner import IterBasedTrainLoop, Runner
from torch.utils.data import DataLoader

from harness import registry  # noqa: F401  (installs the mmcv._ext stand-in when needed)
from harness.mmengine_private import diff_rank_seed, infinite_iterator, registry_locations


def changed(name: str, module: str = "harness/mmengine_private.py") -> str:
    return f"mmengine {mmengine.__version__} changed {name}: update {module}"


class _Model(BaseModel):
    def forward(self, inputs, data_samples=None, mode="tensor"):
        return inputs


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    return Runner(model=_Model(), work_dir=str(tmp_path_factory.mktemp("runner")),
                  randomness=dict(seed=3, diff_rank_seed=True), log_level="WARNING")


def test_infinite_dataloader_iterator_exists_with_its_signature():
    loops = importlib.import_module("mmengine.runner.loops")
    cls = getattr(loops, "_InfiniteDataloaderIterator", None)
    assert cls is not None, changed("mmengine.runner.loops._InfiniteDataloaderIterator (removed)")
    params = list(inspect.signature(cls).parameters)
    assert params == ["dataloader"], changed(
        f"_InfiniteDataloaderIterator's arguments (now {params}, expected ['dataloader'])")


def test_infinite_iterator_restarts_with_the_next_sampler_epoch(monkeypatch):
    # mmengine sleeps 2 s at each restart against a worker deadlock; not needed here.
    monkeypatch.setattr(importlib.import_module("mmengine.runner.loops").time, "sleep",
                        lambda _: None)
    data = list(range(5))
    sampler = DefaultSampler(data, shuffle=True, seed=7)
    batches = infinite_iterator(DataLoader(data, batch_size=5, sampler=sampler))
    first, second = next(batches).tolist(), next(batches).tolist()
    reference = DefaultSampler(data, shuffle=True, seed=7)
    expected_first = list(reference)
    reference.set_epoch(1)
    assert (first, second) == (expected_first, list(reference)), changed(
        "_InfiniteDataloaderIterator (no longer restarts with sampler.set_epoch(epoch + 1))")


def test_iter_based_loop_uses_the_same_iterator_for_its_own_loader(runner):
    loop = IterBasedTrainLoop(runner, DataLoader(list(range(3))), max_iters=2)
    assert type(loop.dataloader_iterator).__name__ == "_InfiniteDataloaderIterator", changed(
        f"IterBasedTrainLoop.dataloader_iterator (now {type(loop.dataloader_iterator)}): "
        "extra domains would be iterated differently from the main loader")


def test_runner_keeps_randomness_settings_in_randomness_cfg(runner):
    cfg = getattr(runner, "_randomness_cfg", None)
    assert isinstance(cfg, dict), changed("Runner._randomness_cfg (missing or not a dict)")
    assert cfg.get("diff_rank_seed") is True and diff_rank_seed(runner) is True, changed(
        f"Runner._randomness_cfg (now {cfg}, expected the randomness argument)")


def test_registry_keeps_its_locations_in_locations():
    params = inspect.signature(Registry).parameters
    assert "locations" in params, changed("Registry's locations argument (removed)")
    reg = Registry("tripwire", locations=["harness.models", "harness.data"])
    assert registry_locations(reg) == ["harness.models", "harness.data"], changed(
        "Registry._locations (no longer the list given as locations)")


def test_mmcv_ops_load_kernels_from_mmcv_ext():
    ext_loader = importlib.import_module("mmcv.utils.ext_loader")
    ext = ext_loader.load_ext("_ext", [])
    assert ext is sys.modules["mmcv._ext"], (
        f"mmcv {mmcv.__version__} changed where mmcv.ops finds its kernels (no longer "
        "mmcv._ext): update harness/mmcv_compat.py")
    importlib.import_module("mmcv.ops")  # mmseg imports it: must work with the stand-in


def test_mmengine_sees_the_stand_in_as_no_compiled_ops():
    from mmengine.utils.dl_utils import mmcv_full_available

    if sys.modules["mmcv._ext"].__spec__.loader is not None:
        pytest.skip("full mmcv with compiled ops is installed")
    assert not mmcv_full_available(), changed(
        "mmcv_full_available (a loader-less mmcv._ext spec now counts as compiled ops)",
        "harness/mmcv_compat.py")
    with pytest.raises(RuntimeError, match="compiled op 'nms' is not available"):
        sys.modules["mmcv._ext"].nms()
