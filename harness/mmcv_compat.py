"""Stand-in for mmcv's compiled extension so mmseg imports on mmcv-lite.

mmcv-lite is mmcv without compiled ops. mmseg imports ``mmcv.ops`` at import
time, and ``mmcv.ops`` looks up every kernel on ``mmcv._ext``. The models the
harness uses (DeepLab-v2, DRN, FCN8s, LeNet, VGG) need none of them, so a module
whose every attribute raises a clear error is enough. Call :func:`install`
before importing mmseg; :mod:`harness.registry` does.
"""

import importlib.machinery
import sys
import types


class _MissingOps(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)

        def _missing(*args, **kwargs):
            raise RuntimeError(
                f"mmcv compiled op '{name}' is not available: the harness installs "
                "mmcv-lite (no compiled ops). Use a model built from plain PyTorch "
                "layers, or install the full mmcv built for your torch."
            )

        return _missing


def install() -> None:
    """Register the stand-in as ``mmcv._ext`` unless a real one is importable."""
    if "mmcv._ext" in sys.modules:
        return
    try:
        import mmcv._ext  # noqa: F401  (full mmcv present: keep it)
    except ImportError:
        stand_in = _MissingOps("mmcv._ext")
        # A spec without a loader: mmengine's mmcv_full_available() then says False.
        stand_in.__spec__ = importlib.machinery.ModuleSpec("mmcv._ext", loader=None)
        sys.modules["mmcv._ext"] = stand_in
