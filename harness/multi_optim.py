"""Several optimizers, one per submodule, as one mmengine ``OptimWrapperDict``.

mmengine ships ``OptimWrapperDict`` but no constructor that builds it from a
config (its docs leave ``MultiOptimWrapperConstructor`` to downstream code).
Adversarial methods return from ``optim_wrapper_cfg``::

    {"constructor": "MultiOptimWrapperConstructor",
     "calibrator": {"type": "OptimWrapper", "optimizer": {...}},
     "pixel_discriminator": {...}}

and each key names a submodule of the method whose parameters that wrapper
optimizes. Submodules not named (a frozen backbone) get no optimizer.
"""

from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS

from harness.utils import unwrap


@OPTIM_WRAPPER_CONSTRUCTORS.register_module(force=True)
class MultiOptimWrapperConstructor:
    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None):
        if paramwise_cfg:
            raise ValueError("MultiOptimWrapperConstructor: give paramwise_cfg inside each "
                             "submodule's wrapper config, not at the top level")
        self.cfgs = dict(optim_wrapper_cfg)

    def __call__(self, model) -> OptimWrapperDict:
        model = unwrap(model)  # DDP wraps the method
        wrappers = {}
        for name, cfg in self.cfgs.items():
            module = getattr(model, name, None)
            if module is None:
                raise ValueError(f"{type(model).__name__} has no submodule {name!r} for an "
                                 "optimizer; use the names of its trainable submodules")
            cfg = dict(cfg)
            paramwise = cfg.pop("paramwise_cfg", None)
            wrappers[name] = DefaultOptimWrapperConstructor(cfg, paramwise)(module)
        return OptimWrapperDict(**wrappers)
