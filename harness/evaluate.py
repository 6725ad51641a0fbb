"""``harness eval``: a final weights file evaluated on a protocol's test splits."""

from pathlib import Path

from harness.checkpoints import load_final
from harness.compile import RunSpec, compile_config
from harness.utils import unwrap


def evaluate_checkpoint(spec: RunSpec, checkpoint: Path, data_root: Path | None = None,
                        launcher: str = "none") -> dict:
    """Target and source metrics (with confusion matrices) of ``checkpoint``."""
    from mmengine.runner import Runner

    cfg = compile_config(spec, data_root=data_root, launcher=launcher, quiet=True)
    cfg.work_dir = str(Path(cfg.work_dir) / "eval")
    runner = Runner.from_cfg(cfg)
    load_final(unwrap(runner.model), checkpoint)
    runner.val()
    return runner.val_loop.domain_metrics()
