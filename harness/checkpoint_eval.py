"""``harness eval``: a final weights file evaluated on a protocol's test splits."""

from pathlib import Path

from harness.checkpoints import load_final
from harness.config import compile_config
from harness.plan import RunPlan
from harness.utils import unwrap


def evaluate_checkpoint(plan: RunPlan, checkpoint: Path) -> dict:
    """Target and source metrics (with confusion matrices) of ``checkpoint``."""
    import dataclasses

    from mmengine.runner import Runner

    plan = dataclasses.replace(plan, work_dir=plan.work_dir / "eval", quiet=True)
    runner = Runner.from_cfg(compile_config(plan))
    load_final(unwrap(runner.model), checkpoint)
    runner.val()
    return runner.val_loop.domain_metrics()
