"""The all-reduced metric gives the same numbers with 2 processes as with 1 (gloo, CPU)."""

import multiprocessing as mp
import socket

import numpy as np
import torch
import torch.distributed as dist

from harness.evaluation.metric import ConfusionMetric

N_CLASSES = 4


def _batches():
    g = torch.Generator().manual_seed(0)
    return [(torch.randint(0, N_CLASSES, (2, 9, 7), generator=g),
             torch.randint(0, N_CLASSES, (2, 9, 7), generator=g)) for _ in range(6)]


def _evaluate(batches):
    metric = ConfusionMetric([str(i) for i in range(N_CLASSES)], prefix="target")
    for pred, gt in batches:
        metric.process({}, [{"pred": pred, "gt": gt}])
    return metric.evaluate(size=len(batches)), metric.last_matrix


def _worker(rank, port, out):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=2)
    # An unpadded split of the batches, as DefaultSampler(round_up=False) gives.
    metrics, matrix = _evaluate(_batches()[rank::2])
    out[rank] = (metrics, matrix.tolist())
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one():
    single, single_matrix = _evaluate(_batches())
    ctx = mp.get_context("fork")  # fork: the test module need not be importable by name
    out, port = ctx.Manager().dict(), _free_port()
    procs = [ctx.Process(target=_worker, args=(rank, port, out)) for rank in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    for rank in range(2):
        metrics, matrix = out[rank]
        assert metrics == single
        assert np.array_equal(np.array(matrix), single_matrix)
