"""The all-reduced metric gives the same numbers with 2 processes as with 1 (gloo, CPU), and
the same per-image counts in the same (dataset) order."""

import multiprocessing as mp
import socket

import numpy as np
import torch
import torch.distributed as dist

from harness.evaluation.metric import ConfusionMetric

N_CLASSES = 4


def _images():
    g = torch.Generator().manual_seed(0)
    return [(torch.randint(0, N_CLASSES, (9, 7), generator=g),
             torch.randint(0, N_CLASSES, (9, 7), generator=g)) for _ in range(11)]


def _evaluate(images):
    """Batches of 2 of ``images`` (the last one short), as a loader gives them."""
    metric = ConfusionMetric([str(i) for i in range(N_CLASSES)], prefix="target")
    for start in range(0, len(images), 2):
        pred, gt = (torch.stack(t) for t in zip(*images[start:start + 2]))
        metric.process({}, [{"pred": pred, "gt": gt}])
    metrics = metric.evaluate(size=len(_images()))
    s = metric.last_samples
    samples = None if s is None else [a.tolist() for a in (s.image, s.gt, s.pred, s.count)]
    return metrics, metric.last_matrix, samples


def _worker(rank, port, out):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=2)
    # An unpadded split of the images, as DefaultSampler(round_up=False) gives.
    metrics, matrix, samples = _evaluate(_images()[rank::2])
    out[rank] = (metrics, matrix.tolist(), samples)
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one():
    single, single_matrix, single_samples = _evaluate(_images())
    ctx = mp.get_context("fork")  # fork: the test module need not be importable by name
    out, port = ctx.Manager().dict(), _free_port()
    procs = [ctx.Process(target=_worker, args=(rank, port, out)) for rank in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    for rank in range(2):
        metrics, matrix, _ = out[rank]
        assert metrics == single
        assert np.array_equal(np.array(matrix), single_matrix)
    # Rank 0 holds every image's counts, in dataset order; the other ranks hold none.
    assert out[0][2] == single_samples and out[1][2] is None
