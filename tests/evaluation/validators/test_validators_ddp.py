"""all_reduce: two processes (gloo, CPU) score as one process fed both shares in rank order.

The two processes run this file as a script: a forked child of a process that
has already run torch's OpenMP threads (any earlier test) can hang in its
first parallel op.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from harness.evaluation.validators import Reservoir, build_validator

ROOT = Path(__file__).resolve().parents[3]
SPECS = [("entropy", {}), ("im", {}), ("bnm", {}), ("snd", {}), ("dev", {}),
         ("source_val", {"metric": "miou"})]


def _batches():
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(6):
        out.append({
            "target_probs": torch.softmax(torch.randn(8, 3, generator=g), 1),
            "target_features": torch.randn(8, 4, generator=g) + 1,
            "source_features": torch.randn(8, 4, generator=g),
            "source_probs": torch.softmax(torch.randn(8, 3, generator=g), 1),
            "source_labels": torch.randint(0, 3, (8,), generator=g),
            "source_confusion": torch.randint(0, 9, (3, 3), generator=g),
        })
    return out


def _scores(batches):
    scores = {}
    for name, kwargs in SPECS:
        validator = build_validator(name, **kwargs)
        for batch in batches:
            validator.update(batch)
        validator.all_reduce()  # a no-op on one process
        scores[name] = validator.score()
    return scores


def _worker(rank: int, port: int, out: Path) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=2)
    scores = _scores(_batches()[rank::2])
    # Over capacity: rank 0 saw 30 rows, rank 1 saw 10; 10 are kept, 7.5 : 2.5 -> 8 : 2.
    reservoir = Reservoir(10, seed=3)
    reservoir.add(torch.arange(30.0)[:, None] if rank == 0 else 100 + torch.arange(10.0)[:, None])
    reservoir.all_gather()
    out.write_text(json.dumps([scores, reservoir.seen, reservoir.rows[:, 0].tolist()]))
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one(tmp_path):
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, __file__, str(rank), str(port),
                               str(tmp_path / f"{rank}.json")], env=env) for rank in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    batches = _batches()
    single = _scores(batches[0::2] + batches[1::2])
    results = [json.loads((tmp_path / f"{rank}.json").read_text()) for rank in range(2)]
    for scores, seen, rows in results:
        assert scores == pytest.approx(single, rel=1e-6)  # float32 inputs, float64 sums
        assert seen == 40 and rows == results[0][2]
        assert sum(r < 30 for r in rows) == 8 and len(set(rows)) == 10


if __name__ == "__main__":
    _worker(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
