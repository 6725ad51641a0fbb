"""The progress bar redraws from the training loop, at most once per ``redraw_every``."""

import io
from types import SimpleNamespace

import pytest
import torch
from rich.console import Console

from harness.hooks import RichProgressHook


@pytest.fixture
def hook(monkeypatch):
    """A hook whose bar writes to a string, with its redraws counted."""
    import rich.progress

    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    original = rich.progress.Progress

    def progress_on_string(*args, **kwargs):
        return original(*args, console=console, **kwargs)

    monkeypatch.setattr(rich.progress, "Progress", progress_on_string)
    hook = RichProgressHook()
    hook.draws = 0
    return hook


def count_draws(hook):
    refresh = hook.progress.refresh

    def counted():
        hook.draws += 1
        refresh()

    hook.progress.refresh = counted


def test_redraws_once_per_interval_without_a_thread(hook):
    hook.redraw_every = 3600.0  # a whole run inside one interval
    hook.before_train(SimpleNamespace(rank=0, max_iters=50, iter=0))
    count_draws(hook)
    # rich's refresh thread is what slowed small models; the loop draws instead.
    assert hook.progress.live.auto_refresh is False
    assert hook.progress.live._refresh_thread is None
    reads = []

    class Loss(torch.Tensor):
        def detach(self):
            reads.append(1)
            return torch.Tensor.detach(self)

    for i in range(50):
        hook.after_train_iter(None, i, outputs={"loss": torch.tensor(0.5).as_subclass(Loss)})
    task = hook.progress.tasks[0]
    assert task.completed == 50
    # Drawn (and the loss read) at the first iteration only; the rest wait for the interval.
    assert hook.draws == 1
    assert len(reads) == 1
    assert task.fields["info"] == "loss 0.5000"
    hook.after_run(None)
    assert "50/50" in hook.progress.console.file.getvalue()


def test_redraws_again_once_the_interval_has_passed(hook, monkeypatch):
    clock = iter([0.0, 0.4, 0.9, 1.0, 1.5, 2.2])
    monkeypatch.setattr("harness.hooks.time.monotonic", lambda: next(clock))
    hook.before_train(SimpleNamespace(rank=0, max_iters=6, iter=0))
    count_draws(hook)
    for i in range(6):
        hook.after_train_iter(None, i, outputs={})
    assert hook.draws == 3  # at 0.0, 1.0 and 2.2 seconds
    hook.after_run(None)
