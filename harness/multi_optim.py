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


def submodule_wrapper(base: dict, prefix: str = "net.") -> dict:
    """The protocol's wrapper config (``base``) for one submodule's own optimizer.

    Paramwise keys name parameters of the whole method (``net.head``); the
    constructor matches them inside the submodule, so ``prefix`` is stripped.
    """
    cfg = dict(base)
    paramwise = cfg.get("paramwise_cfg")
    if paramwise and "custom_keys" in paramwise:
        keys = {k.removeprefix(prefix): v for k, v in paramwise["custom_keys"].items()}
        cfg["paramwise_cfg"] = {**paramwise, "custom_keys": keys}
    return cfg


def adam_wrapper(base: dict, lr: float, beta1: float) -> dict:
    """An Adam wrapper for a GAN part (DCGAN's / CycleGAN's choice), of the protocol's
    wrapper type and AMP dtype."""
    cfg = {"type": base["type"], "optimizer": {"type": "Adam", "lr": lr, "betas": (beta1, 0.999)}}
    if "dtype" in base:
        cfg["dtype"] = base["dtype"]
    return cfg


def update_only(wrapper, loss, module, retain_graph: bool = False) -> None:
    """One step of ``wrapper`` on ``loss``'s gradient with respect to ``module`` only.

    When several parts' losses share one forward pass (SUIT's generator and task
    network), ``backward(inputs=...)`` keeps each loss's gradient out of the other
    parts' parameters, so no part ever steps on another's gradient.
    """
    params = [p for p in module.parameters() if p.requires_grad]
    # As OptimWrapper.update_params does, with gradient accumulation's loss scaling.
    wrapper.backward(wrapper.scale_loss(loss), inputs=params, retain_graph=retain_graph)
    if wrapper.should_update():
        wrapper.step()
        wrapper.zero_grad()
