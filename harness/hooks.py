"""Hooks: RNG state in checkpoints (exact resume), checkpoint guards, rich progress bars,
method rounds."""

import time
from collections.abc import Callable
from pathlib import Path

from mmengine.hooks import Hook

from harness import rng
from harness.checkpoints import plain, restore_message_hub, write_last_checkpoint
from harness.guards import check_finite_state
from harness.registry import HOOKS
from harness.rounds import Artifacts, RoundContext
from harness.utils import unwrap


@HOOKS.register_module()
class RngStateHook(Hook):
    """Saves and restores the Python, NumPy and torch RNG states with each checkpoint.

    mmengine restores weights, optimizer, scheduler and data position but not the
    generators, so dropout after a resume would differ from an uninterrupted run.
    """

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint["rng_state"] = rng.capture()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if "rng_state" in checkpoint:
            rng.restore(checkpoint["rng_state"])


@HOOKS.register_module()
class CheckpointGuardHook(Hook):
    """Training checkpoints that are safe to keep and to resume.

    Before a save: refuses non-finite weights, records the run's identity
    (``--resume`` refuses another run's checkpoint) and turns everything but the
    tensors into plain types, so the file loads with ``weights_only=True``. After
    each save: ``last_checkpoint`` names the file relative to the work dir.
    """

    # Lowest: sees the checkpoint after every other hook added to it, and runs
    # after_train_iter after mmengine's CheckpointHook has saved.
    priority = "LOWEST"

    def __init__(self, run: dict):
        self.run = run
        self.named = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        check_finite_state(checkpoint["state_dict"],
                           f"checkpoint of iteration {checkpoint['meta']['iter']}")
        checkpoint["meta"]["harness_run"] = self.run
        for key in checkpoint:
            if key != "state_dict":
                checkpoint[key] = plain(checkpoint[key])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint["message_hub"] = restore_message_hub(checkpoint["message_hub"])

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        saved = runner.message_hub.get_info("last_ckpt")
        if runner.rank == 0 and saved and saved != self.named:
            write_last_checkpoint(Path(runner.work_dir), saved)
            self.named = saved


@HOOKS.register_module()
class RichProgressHook(Hook):
    """One progress bar for training (with the running loss) and one per evaluation."""

    priority = "VERY_LOW"

    #: Seconds between redraws. rich's own refresh thread (auto_refresh) woke on 2 cores
    #: often enough to slow LeNet's iterations 1.25x at 10 redraws a second and 1.19x at
    #: one (benchmarks/test_training_overhead.py); here the loop redraws, at most this often.
    redraw_every = 1.0

    def __init__(self):
        self.progress = None
        self._next_draw = 0.0

    def _start(self):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
            transient=False, auto_refresh=False,
        )
        self.progress.start()

    def _advance(self, task, info: Callable[[], str] | None = None) -> None:
        """One step of ``task``; the bar is redrawn when ``redraw_every`` has passed."""
        now = time.monotonic()
        draw = now >= self._next_draw
        fields = {"info": info()} if draw and info is not None else {}
        self.progress.update(task, advance=1, **fields)
        if draw:
            self.progress.refresh()
            self._next_draw = now + self.redraw_every

    def before_train(self, runner) -> None:
        if runner.rank == 0:
            self._start()
            self.train_task = self.progress.add_task(
                "train", total=runner.max_iters, completed=runner.iter, info=""
            )

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.progress is not None:
            loss = (outputs or {}).get("loss")
            # Read (a sync on GPU) only when the bar is drawn.
            self._advance(self.train_task,
                          lambda: "" if loss is None else f"loss {float(loss.detach()):.4f}")

    def before_val_epoch(self, runner) -> None:
        if runner.rank != 0:
            return
        if self.progress is None:
            self._start()
        total = sum(len(loader) for loader in runner.val_loop.loaders.values())
        self.val_task = self.progress.add_task("evaluate", total=total, info="target, source")

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.progress is not None:
            self._advance(self.val_task)

    def after_run(self, runner) -> None:
        if self.progress is not None:
            self.progress.stop()


@HOOKS.register_module()
class RoundsHook(Hook):
    """Calls ``model.on_round_start(ctx)`` at the start of each of ``rounds`` rounds.

    A round is ``max_iters / rounds`` iterations. The call also happens before
    training starts, so a run resumed mid-round gets its round's state back (the
    method reloads what its artifact store holds instead of recomputing it).
    """

    priority = "HIGH"

    def __init__(self, rounds: int, artifacts: str, datasets: dict[str, dict]):
        self.rounds = rounds
        self.artifacts = artifacts
        self.datasets = datasets
        self.built: dict = {}  # each split is built once, on first use, for all rounds

    def _start_round(self, runner, round_idx: int) -> None:
        ctx = RoundContext(round_idx, Artifacts(Path(self.artifacts), runner.rank),
                           self.datasets, self.built)
        unwrap(runner.model).on_round_start(ctx)

    def _round_length(self, runner) -> int:
        return max(1, runner.max_iters // self.rounds)

    def before_train(self, runner) -> None:
        self._start_round(runner, runner.iter // self._round_length(runner))

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        length = self._round_length(runner)
        if runner.iter > 0 and runner.iter % length == 0:
            self._start_round(runner, runner.iter // length)


@HOOKS.register_module()
class EvalPointsHook(Hook):
    """Keeps the evaluation points in checkpoints, and evaluates a point a resumed run missed.

    mmengine saves a checkpoint before the evaluation of the same iteration, so a
    run resumed from it (or from the final checkpoint, when the record was never
    written) evaluates that point again first. Evaluation leaves the random
    generators untouched, so the resumed run still equals an uninterrupted one.
    """

    priority = "LOW"

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint["eval_points"] = runner.val_loop.points

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        runner.val_loop.points = list(checkpoint.get("eval_points", []))

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        due = runner.iter >= loop.val_begin and (
            runner.iter % loop.val_interval == 0 or runner.iter == runner.max_iters)
        done = {p["iter"] for p in runner.val_loop.points}
        if runner.iter > 0 and due and runner.iter not in done:
            runner.val_loop.run()
