"""Shared fixtures: tiny, fast settings of the embedded digits protocol."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

#: A run of the default protocol cut to seconds: few iterations, frequent checkpoints.
TINY = ["train.iters=12", "train.checkpoint_interval=4", "train.log_interval=4"]


@pytest.fixture
def tiny_sets() -> list[str]:
    return list(TINY)


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path, monkeypatch):
    """Runs write work_dirs/ under the test's own folder, never into the checkout."""
    monkeypatch.chdir(tmp_path)
