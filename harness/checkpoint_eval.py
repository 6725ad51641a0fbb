"""``harness eval``: a final weights file evaluated on a protocol's test splits."""

from pathlib import Path

from harness.checkpoints import load_final
from harness.config import compile_config
from harness.plan import RunPlan
from harness.utils import unwrap


def checkpoint_runner(plan: RunPlan, checkpoint: Path):
    """An mmengine Runner of ``plan`` with the weights of ``checkpoint`` loaded."""
    import dataclasses

    from mmengine.runner import Runner

    plan = dataclasses.replace(plan, work_dir=plan.work_dir / "eval", quiet=True)
    runner = Runner.from_cfg(compile_config(plan))
    load_final(unwrap(runner.model), checkpoint)
    return runner


def evaluate_checkpoint(plan: RunPlan, checkpoint: Path) -> dict:
    """Target and source metrics (with confusion matrices) of ``checkpoint``."""
    runner = checkpoint_runner(plan, checkpoint)
    runner.val()
    return runner.val_loop.domain_metrics()
