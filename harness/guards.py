"""Non-finite guards around the optimizer step and the checkpoint: nothing non-finite is
ever applied or saved.

The loss guard lives in :meth:`harness.method.UDAMethod.parse_losses`; a finite
loss can still give non-finite gradients (an overflow in backward), and a finite
step can still give non-finite weights (a huge learning rate), so both are checked
where they would otherwise be applied or kept.
"""

import torch
from mmengine.optim import OptimWrapper

from harness.errors import HarnessError
from harness.registry import OPTIM_WRAPPERS


class NonFiniteGradError(HarnessError, FloatingPointError):
    """The gradients became NaN or infinite: the step was not taken."""


class NonFiniteStateError(HarnessError, FloatingPointError):
    """The weights became NaN or infinite: the checkpoint was not written."""


@OPTIM_WRAPPERS.register_module()
class FiniteOptimWrapper(OptimWrapper):
    """mmengine's ``OptimWrapper`` that refuses to step on a non-finite gradient norm.

    One global norm and one finite check per step (a single device sync). AMP
    runs use ``AmpOptimWrapper`` instead, whose loss scaler already skips such steps.
    """

    def step(self, **kwargs) -> None:
        grads = [p.grad for group in self.optimizer.param_groups for p in group["params"]
                 if p.grad is not None]
        if grads:
            norm = torch.nn.utils.get_total_norm(grads)
            if not torch.isfinite(norm):
                raise NonFiniteGradError(
                    f"the global gradient norm is {float(norm)}; the step was not taken and "
                    "the last good checkpoint is kept. Lower the learning rate, enable "
                    "gradient clipping, or check the inputs for NaN."
                )
        super().step(**kwargs)


def check_finite_state(state_dict: dict, what: str) -> None:
    """Raise if any floating tensor of ``state_dict`` holds a NaN or an infinity."""
    bad = [k for k, v in state_dict.items()
           if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise NonFiniteStateError(
            f"{what}: non-finite values in {len(bad)} tensor(s) ({', '.join(bad[:5])}); it "
            "was not written and the last good checkpoint is kept. Lower the learning rate "
            "or enable gradient clipping."
        )
