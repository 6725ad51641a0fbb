"""Training iterations on digits: the harness against a bare PyTorch loop, side by side.

Targets (issue: reference numbers on small models): harness / bare at most 1.15 for
source_only with LeNet and at most 1.3 for the calibrator, on a 2-core CPU. Both sides
train the same networks with the same batch (128 per domain), optimizers and data
(digits_mnist_optdigits' splits, in memory for the bare loop). The harness side is a
real run as `harness run` makes it (Runner, data loaders, hooks, logging, the rich
progress bar, optimizer wrappers); the bare side calls the same modules in a plain loop
with ``torch.optim.Adam`` on tensors indexed by random draws. Steady-state seconds per
iteration (median, after a warm-up) are in ``extra_info``, with the FLOPs of one
iteration and the GFLOP/s each side reaches; the ``ratio`` is put on the harness case.
Those cases run one after another; the paired case alternates a bare loop and a harness
run round by round and keeps each round's ratio (median and quartiles in ``extra_info``),
which a change in the shared machine's speed between cases does not move.
Nothing here asserts a time.
"""

import copy
import itertools
import statistics
import time

import pytest
import torch
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.registry import DefaultScope
from torch.utils.flop_counter import FlopCounterMode

from harness.plan import make_plan
from harness.registry import DATASETS, HOOKS, MODELS
from harness.run import ensure_source_model, train_and_record

WARMUP, ITERS = 10, 60
BATCH = 128
#: seconds per iteration of each case, read by the harness case to put the ratio.
MEASURED: dict[str, float] = {}


@HOOKS.register_module(force=True)
class IterationClock(Hook):
    """Times every training iteration from the end of the previous one (data included)."""

    ticks: list[float] = []  # class-level: the runner builds its own instance

    def before_train(self, runner) -> None:
        IterationClock.ticks = [time.perf_counter()]

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        IterationClock.ticks.append(time.perf_counter())


def steady(ticks: list[float]) -> float:
    """Median seconds per iteration after the warm-up iterations."""
    steps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    return statistics.median(steps[WARMUP:])


def plan_for(method: str, tmp_path, quiet: bool = False):
    # One evaluation, at the end, without validators: this measures training only.
    sets = [f"train.iters={WARMUP + ITERS}", "eval.points=1", "selection.validators=[]",
            "selection.rule=last", f"train.checkpoint_interval={WARMUP + ITERS}"]
    return make_plan("digits_mnist_optdigits", method, None, 0, sets,
                     work_dir=tmp_path / method, results_dir=tmp_path / "records", quiet=quiet)


def harness_iteration(plan) -> float:
    train_and_record(plan, extra_hooks=({"type": "IterationClock"},))
    return steady(IterationClock.ticks)


def build_method(plan):
    """The method's model as the run builds it (on the source model's weights), and the
    training splits of both domains as tensors in memory."""
    from harness.config import compile_config

    cfg = compile_config(plan)
    p = plan.protocol
    with DefaultScope.overwrite_default_scope("harness"):
        model = MODELS.build(dict(cfg.model))
        data = {name: DATASETS.build({"type": d.dataset, "split": d.train_split, **d.options})
                for name, d in (("source", p.source), ("target", p.target))}
    return model, data


def batches(datasets: dict, domains: tuple[str, ...], seed: int = 0):
    """Random batches of ``BATCH`` images per domain, indexed from tensors in memory."""
    g = torch.Generator().manual_seed(seed)
    while True:
        out = {}
        for d in domains:
            idx = torch.randint(len(datasets[d]), (BATCH,), generator=g)
            out[d] = (datasets[d].images[idx], datasets[d].labels[idx])
        yield out


def bare_loop(step, data) -> tuple[float, int]:
    """(median seconds per iteration, FLOPs of one iteration) of ``step`` over ``data``."""
    batch = next(data)
    with FlopCounterMode(display=False) as counter:
        step(batch)
    ticks = [time.perf_counter()]
    for _ in range(WARMUP + ITERS):
        step(next(data))
        ticks.append(time.perf_counter())
    return steady(ticks), counter.get_total_flops()


def report(benchmark, case: str, seconds: float, flops: int | None = None) -> None:
    MEASURED[case] = seconds
    benchmark.extra_info["ms_per_iter"] = round(seconds * 1e3, 2)
    if flops is not None:
        benchmark.extra_info.update(gflop_per_iter=round(flops / 1e9, 3),
                                    gflops_per_s=round(flops / seconds / 1e9, 2))
    bare = MEASURED.get(case.replace("harness", "bare"))
    if case.startswith("harness") and bare:
        benchmark.extra_info["ratio_harness_over_bare"] = round(seconds / bare, 3)


def source_only_step(model, layout=torch.contiguous_format):
    """source_only's update of ``model`` as a plain function of a batch, its inputs in
    ``layout``."""
    optimizer = torch.optim.Adam(model.net.parameters(), lr=1e-3)  # the protocol's [train]

    def step(batch):
        x, y = batch["source"]
        loss = F.cross_entropy(model.net(model.normalize(x).contiguous(memory_format=layout)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def bare_source_only(tmp_path):
    """source_only's update as a plain loop: (step, batches of the source digits)."""
    model, data = build_method(plan_for("source_only", tmp_path))
    model.train()
    return source_only_step(model), batches(data, ("source",))


@pytest.mark.benchmark(group="train-iteration-lenet")
def test_bare_source_only(benchmark, tmp_path):
    seconds, flops = benchmark.pedantic(bare_loop, args=bare_source_only(tmp_path),
                                        rounds=1, iterations=1)
    report(benchmark, "bare_source_only", seconds, flops)


@pytest.mark.benchmark(group="train-iteration-lenet")
@pytest.mark.parametrize("quiet", [False, True], ids=["progress", "quiet"])
def test_harness_source_only(benchmark, tmp_path, quiet):
    plan = plan_for("source_only", tmp_path, quiet)
    seconds = benchmark.pedantic(harness_iteration, args=(plan,), rounds=1, iterations=1)
    report(benchmark, "harness_source_only", seconds)


@pytest.mark.benchmark(group="train-iteration-lenet-paired")
@pytest.mark.parametrize("quiet", [False, True], ids=["progress", "quiet"])
def test_harness_over_bare_source_only_paired(paired, tmp_path, quiet):
    """The two cases above, alternately: each round a bare loop and a fresh harness run of
    the same length, and the ratio of their steady seconds per iteration."""
    step, data = bare_source_only(tmp_path)
    runs = itertools.count()

    def harness_case() -> float:
        return harness_iteration(plan_for("source_only", tmp_path / f"run{next(runs)}", quiet))

    paired.run({"bare": lambda: bare_loop(step, data)[0], "harness": harness_case},
               over=("harness", "bare"), rounds=6,
               label=f"source_only ({'quiet' if quiet else 'progress bar'}): harness / bare")


@pytest.mark.benchmark(group="train-iteration-lenet-layout")
def test_channels_last_over_channels_first_paired(paired, tmp_path):
    """What channels-last convolutions would save on LeNet's training step, and why the
    committed runs do not use them: the same weights give other logits (other kernels)."""
    model, data = build_method(plan_for("source_only", tmp_path))
    model.train()
    last = copy.deepcopy(model)
    last.net.to(memory_format=torch.channels_last)
    batch = next(batches(data, ("source",)))["source"][0]
    with torch.no_grad():
        x = model.normalize(batch)
        first_logits = model.net.eval()(x)
        last_logits = last.net.eval()(x.contiguous(memory_format=torch.channels_last))
    model.net.train()
    last.net.train()
    paired.benchmark.extra_info["max_abs_logit_difference"] = float(
        (first_logits - last_logits).abs().max())
    steps = {"channels_first": source_only_step(model),
             "channels_last": source_only_step(last, torch.channels_last)}
    paired.run({name: lambda step=step: bare_loop(step, batches(data, ("source",)))[0]
                for name, step in steps.items()},
               over=("channels_first", "channels_last"), rounds=6,
               label="LeNet step, channels-first / channels-last (speed-up)")


@pytest.fixture(scope="module")
def calibrator_plan(tmp_path_factory):
    """A calibrator plan whose source model is in a private cache (trained once, briefly)."""
    tmp = tmp_path_factory.mktemp("calibrator")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_CACHE", str(tmp / "cache"))
        plan = plan_for("calibrator", tmp)
        ensure_source_model(plan)
        yield plan


@pytest.mark.benchmark(group="train-iteration-calibrator")
def test_bare_calibrator(benchmark, calibrator_plan):
    model, data = build_method(calibrator_plan)
    model.train()
    hp = model.hp
    optimizers = {name: torch.optim.Adam(getattr(model, name).parameters(), lr=hp.lr,
                                         weight_decay=hp.weight_decay)
                  for name in ("calibrator", "pixel_discriminator", "feature_discriminator")}

    def step(batch):
        source, target = ({"inputs": batch[d][0]} for d in ("source", "target"))
        for name in ("pixel_discriminator", "feature_discriminator"):
            optimizers[name].zero_grad()
        d = model.discriminator_losses(source, target)
        (d["loss_pixel_d"] + d["loss_feature_d"]).backward()
        optimizers["pixel_discriminator"].step()
        optimizers["feature_discriminator"].step()
        optimizers["calibrator"].zero_grad()
        g = model.loss(source, target)
        (g["loss_pixel_g"] + g["loss_feature_g"]).backward()
        optimizers["calibrator"].step()

    seconds, flops = benchmark.pedantic(
        bare_loop, args=(step, batches(data, ("source", "target"))), rounds=1, iterations=1)
    report(benchmark, "bare_calibrator", seconds, flops)


@pytest.mark.benchmark(group="train-iteration-calibrator")
def test_harness_calibrator(benchmark, calibrator_plan):
    seconds = benchmark.pedantic(harness_iteration, args=(calibrator_plan,), rounds=1,
                                 iterations=1)
    report(benchmark, "harness_calibrator", seconds)
