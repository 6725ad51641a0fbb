"""AdapterNet vs fine-tuning the last layer: training images/s on VGG16 at 224x224, CPU.

Both methods are built as ``harness run`` builds them for ``imagenet_simcam_rotation``
(frozen VGG16, the protocol's Adam) and take full training steps on the same
synthetic uint8 batch. One benchmark group, so pytest-benchmark prints the rows
side by side with their ratio. AdapterNet back-propagates through the whole frozen
network to its input; fine-tuning fc8 stops at the last layer. A small batch keeps
a CPU run short; the GPU figures (fp32 and AMP, the protocol's batch) need a GPU.

    python -m pytest benchmarks/test_adapternet.py --benchmark-only -o addopts="--import-mode=importlib"
"""

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from harness.config import compile_config
from harness.plan import make_plan
from harness.registry import MODELS

BATCH, SIZE = 2, 224


def _build(method: str):
    cfg = compile_config(make_plan("imagenet_simcam_rotation", method, "vgg16", 0, [], quiet=True))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope("harness"):
        model = MODELS.build(dict(cfg.model, source_checkpoint=None))
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    return model.train(), wrapper


@pytest.fixture(scope="module")
def data() -> dict:
    g = torch.Generator().manual_seed(0)
    return {"target": {
        "inputs": torch.randint(0, 256, (BATCH, 3, SIZE, SIZE), dtype=torch.uint8, generator=g),
        "label": torch.randint(0, 1000, (BATCH,), generator=g)}}


def _train_steps(benchmark, method: str, data: dict) -> None:
    model, wrapper = _build(method)
    benchmark.pedantic(model.train_step, args=(data, wrapper), rounds=3, iterations=1,
                       warmup_rounds=1)
    benchmark.extra_info["images_per_s"] = BATCH / benchmark.stats.stats.mean


@pytest.mark.benchmark(group="vgg16-train-step-224")
def test_adapternet_train_step(benchmark, data):
    _train_steps(benchmark, "adapternet", data)


@pytest.mark.benchmark(group="vgg16-train-step-224")
def test_finetune_last1_train_step(benchmark, data):
    _train_steps(benchmark, "finetune_last1", data)
