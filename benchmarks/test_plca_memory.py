"""PLCA association at the paper's size: dense matrices vs the chunked implementation.

Both variants compute the two association terms of one PLCA iteration
(features: 2048-d cosine; predictions: 19-class negative KL; target
aggregation with alpha 0.5) at 92x92, forward and backward. The dense variant
builds every (N, L, L) matrix at once, as the official solver/loss.py does; the
chunked one is ``harness.losses.association``. Each variant runs in its own
process so that its peak memory is its own: the peak resident set growth on
CPU, ``torch.cuda.max_memory_allocated`` on CUDA.

Batch: the dense variant grows by ~3 GB per pair (about 24 GB at the paper's
batch 8) and takes about 3 minutes per 2 pairs on two CPU cores, so the default
is 2; set PLCA_BENCH_BATCH=8 on a larger machine or a GPU.

    python -m pytest benchmarks/test_plca_memory.py -o addopts=--import-mode=importlib \
        --benchmark-enable -s

(the project's addopts carry --benchmark-skip, which --benchmark-enable alone does not lift).
"""

import json
import os
import resource
import subprocess
import sys
import time

import pytest
import torch
import torch.nn.functional as F

BATCH = int(os.environ.get("PLCA_BENCH_BATCH", "2"))
SIZE = 92  # paper Sec. 4.2: associations at 92 x 92
FEATURE_DIM = 2048  # ResNet-101 layer4
NUM_CLASSES = 19
IGNORE = 255
_results: dict[str, dict] = {}


def dense_association(source, target, labels, metric, alpha=0.5):
    """Batched full-matrix association loss, following the official AssociationLoss."""

    def similarity(a, b):
        if metric == "cos":
            return F.normalize(a, dim=1).transpose(1, 2) @ F.normalize(b, dim=1)
        log_a, log_b = torch.log(a + 1e-10), torch.log(b + 1e-10)
        return a.transpose(1, 2) @ log_b - (a * log_a).sum(1)[:, :, None]

    def scores(sim):
        mean, std = sim.mean(2, keepdim=True).detach(), sim.std(2, keepdim=True).detach()
        return torch.softmax((sim - mean) / (std + 1e-10), dim=2)

    s, t = source.flatten(2), target.flatten(2)
    self_sim = similarity(t, t)
    weights = scores(self_sim) if metric == "cos" else torch.softmax(self_sim, dim=2)
    t = (1 - alpha) * t + alpha * t @ weights.transpose(1, 2)
    sim_st = similarity(s, t)
    sim_ts = sim_st.transpose(1, 2) if metric == "cos" else similarity(t, s)
    p_st, p_ts = scores(sim_st), scores(sim_ts)
    first, mid = p_st.max(2)
    second_all, back_all = p_ts.max(2)
    second, end = second_all.gather(1, mid), back_all.gather(1, mid)
    y = labels.flatten(1)
    valid = (y != IGNORE) & (y == y.gather(1, end))
    return -torch.log(first * second)[valid].mean()


def chunked_association(source, target, labels, metric):
    from harness.losses.association import cycle_association_loss

    return cycle_association_loss(source, target, labels, metric, aggregate_alpha=0.5).loss


def make_inputs(device):
    """Features and logits that follow blocky labels, so most cycles are valid (the costly case)."""
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, NUM_CLASSES, (BATCH, SIZE // 8 + 1, SIZE // 8 + 1), generator=g)
    labels = labels.repeat_interleave(8, 1).repeat_interleave(8, 2)[:, :SIZE, :SIZE]
    labels[:, :4] = IGNORE
    class_feat = torch.randn(NUM_CLASSES + 1, FEATURE_DIM, generator=g)
    class_logit = 3 * torch.randn(NUM_CLASSES + 1, NUM_CLASSES, generator=g)
    index = labels.clamp(max=NUM_CLASSES)

    def draw(table, noise):
        x = table[index].permute(0, 3, 1, 2) + noise * torch.randn(
            BATCH, table.shape[1], SIZE, SIZE, generator=g
        )
        return x.to(device).requires_grad_()

    return (
        draw(class_feat, 1.0),
        draw(class_feat, 1.5),
        draw(class_logit, 1.0),
        draw(class_logit, 2.0),
        labels.to(device),
    )


def child(impl):
    """Run one variant once and print its time, peak memory and loss as JSON."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    feat_s, feat_t, logit_s, logit_t, labels = make_inputs(device)
    fn = dense_association if impl == "dense" else chunked_association
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    loss = fn(feat_s, feat_t, labels, "cos") + fn(
        logit_s.softmax(1), logit_t.softmax(1), labels, "kl"
    )
    loss.backward()
    if device == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - before
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {"seconds": seconds, "peak_mib": peak / 2**20, "loss": loss.item(), "device": device}
        )
    )


def run_child(impl):
    out = subprocess.run(
        [sys.executable, __file__, impl],
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("impl", ["dense", "chunked"])
def test_association_92x92(benchmark, impl):
    benchmark.group = f"plca-association-92x92-batch{BATCH}"
    result = benchmark.pedantic(run_child, args=(impl,), rounds=1, iterations=1)
    _results[impl] = result
    benchmark.extra_info.update(result)
    if impl == "chunked" and "dense" in _results:
        dense = _results["dense"]
        # Same loss from both variants (float32 at 8464 pixels per map).
        assert abs(result["loss"] - dense["loss"]) <= 1e-3 * abs(dense["loss"])
        ratios = {
            "peak_ratio_dense_over_chunked": dense["peak_mib"] / result["peak_mib"],
            "time_ratio_chunked_over_dense": result["seconds"] / dense["seconds"],
        }
        benchmark.extra_info.update(ratios)
        print(f"\nbatch {BATCH} at {SIZE}x{SIZE} on {result['device']}:")
        for name, r in (("dense", dense), ("chunked", result)):
            print(
                f"  {name:8s} {r['seconds']:8.1f} s  {r['peak_mib']:9.0f} MiB peak  loss {r['loss']:.6f}"
            )
        print(
            f"  peak dense/chunked {ratios['peak_ratio_dense_over_chunked']:.1f}x, "
            f"time chunked/dense {ratios['time_ratio_chunked_over_dense']:.2f}x"
        )


if __name__ == "__main__":
    child(sys.argv[1])
