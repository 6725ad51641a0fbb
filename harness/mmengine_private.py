"""Every use of an mmengine private name, in one place.

mmengine has no public API for the three things below, and writing them again
would drift from what mmengine itself does. Each is wrapped in a small function
so the rest of the harness never spells a private name, and
``tests/test_mmengine_private.py`` fails with "mmengine X.Y changed <name>" when
an mmengine release removes or changes one of them.

Checked against mmengine 0.11.0rc3.

The other private name the harness touches, mmcv's compiled-ops module
``mmcv._ext``, is replaced by a stand-in in :mod:`harness.mmcv_compat`; its
assumptions are guarded by the same test file.
"""

from collections.abc import Iterator

from mmengine.registry import Registry
from mmengine.runner import Runner
from mmengine.runner.loops import _InfiniteDataloaderIterator
from torch.utils.data import DataLoader


def infinite_iterator(loader: DataLoader) -> Iterator:
    """An endless iterator over ``loader``, as ``IterBasedTrainLoop`` makes for its own loader.

    The extra domains' loaders must behave exactly like the main one (restart at
    the end of the data, ``sampler.set_epoch`` per pass) so that every domain
    replays the same batches on resume; mmengine keeps that class private.
    """
    return _InfiniteDataloaderIterator(loader)


def diff_rank_seed(runner: Runner) -> bool:
    """The runner's ``randomness.diff_rank_seed``, to build extra loaders as mmengine builds its own.

    ``Runner`` passes it to ``build_dataloader`` for the train loader but stores
    the randomness settings only in ``_randomness_cfg`` (``runner.cfg`` lacks them
    when a runner is built from keyword arguments).
    """
    return bool(runner._randomness_cfg.get("diff_rank_seed", False))


def registry_locations(registry: Registry) -> list[str]:
    """The modules ``registry`` imports on first lookup (its ``locations`` argument).

    A lookup that falls through from a child registry to its parent does not
    import the parent's modules, so the harness's child registries list them
    too; mmengine keeps them only in ``_locations``.
    """
    return list(registry._locations)
