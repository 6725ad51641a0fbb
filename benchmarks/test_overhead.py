"""Harness overhead: one `train_step` of source_only vs a bare PyTorch loop, same model and batch.

On a GPU: the paper's setting (DeepLab-v2 ResNet-101, 730x730 crops, batch 8), fp32
and bf16 AMP, with iterations/s, images/s and peak memory in the benchmark's extra
info. On CPU: a reduced size (BENCH_CROP, BENCH_BATCH) so it finishes. The target of
the issue is a ratio harness / bare of at most 1.05; nothing here asserts it.
"""

import os

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from harness.config import compile_config
from harness.plan import make_plan
from harness.registry import MODELS

CUDA = torch.cuda.is_available()
CROP = int(os.environ.get("BENCH_CROP", 730 if CUDA else 128))
BATCH = int(os.environ.get("BENCH_BATCH", 8 if CUDA else 2))
DEVICE = "cuda" if CUDA else "cpu"
AMPS = ["none", "bf16"] if CUDA else ["none"]


def setup(amp: str):
    cfg = compile_config(make_plan("gta5_cityscapes", "source_only", None, 0, [f"train.amp={amp}"], quiet=True))
    with DefaultScope.overwrite_default_scope("harness"):
        model = MODELS.build(dict(cfg.model)).to(DEVICE)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    g = torch.Generator().manual_seed(0)
    batch = {"inputs": torch.randint(0, 256, (BATCH, 3, CROP, CROP), dtype=torch.uint8,
                                     generator=g),
             "label": torch.randint(0, 19, (BATCH, CROP, CROP), generator=g)}
    return model, wrapper, batch


def record(benchmark):
    if CUDA:
        torch.cuda.synchronize()
        benchmark.extra_info["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    benchmark.extra_info.update(crop=CROP, batch=BATCH, device=DEVICE)


@pytest.mark.parametrize("amp", AMPS)
@pytest.mark.benchmark(group="train-iteration")
def test_harness_train_step(benchmark, amp):
    model, wrapper, batch = setup(amp)
    data = {"source": batch}

    def step():
        model.train_step(data, wrapper)
        if CUDA:
            torch.cuda.synchronize()

    benchmark.pedantic(step, rounds=5, iterations=1, warmup_rounds=1)
    record(benchmark)


@pytest.mark.parametrize("amp", AMPS)
@pytest.mark.benchmark(group="train-iteration")
def test_bare_pytorch_loop(benchmark, amp):
    model, wrapper, batch = setup(amp)
    net, optimizer = model.net, wrapper.optimizer
    mean, std = model.mean, model.std
    dtype = {"none": None, "bf16": torch.bfloat16}[amp]

    def step():
        x = batch["inputs"].to(DEVICE).float().flip(1)  # the same BGR, Caffe-mean input
        y = batch["label"].to(DEVICE)
        with torch.autocast(DEVICE, dtype=dtype, enabled=dtype is not None):
            logits = net((x - mean) / std)
            logits = F.interpolate(logits, size=y.shape[-2:], mode="bilinear")
            loss = F.cross_entropy(logits, y, ignore_index=255)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if CUDA:
            torch.cuda.synchronize()

    benchmark.pedantic(step, rounds=5, iterations=1, warmup_rounds=1)
    record(benchmark)
