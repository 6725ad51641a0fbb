"""The global random generators' states, captured and restored as plain data.

Used by checkpoints (exact resume) and by evaluation, which must leave the
training streams untouched: a DataLoader draws its base seed from the global
torch generator even with no worker process, so an evaluation in the middle of
training would otherwise shift every later dropout mask and shuffle.
"""

import contextlib
import random

import numpy as np
import torch


def capture() -> dict:
    name, keys, *rest = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (name, keys.tolist(), *rest),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore(state: dict) -> None:
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def preserved():
    """Run a block without changing the global generators' states."""
    state = capture()
    try:
        yield
    finally:
        restore(state)
