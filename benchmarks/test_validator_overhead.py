"""One evaluation point on digits with and without validators, side by side.

The selection target: validators add at most 25% to an evaluation point. The cases
evaluate the same model (LeNet, digits_mnist_optdigits):

- plain: target test and source test (1,600 images), no validator;
- reading: the same, plus the forward passes the validators need (the 1,197
  unlabeled optdigits images, and for DEV the 400 source-validation digits), no score;
- validators: a full evaluation point with those validators.

Two validator sets: the protocol's five (entropy, IM, BNM, SND, DEV) and the four that
read only target data (the set of the protocols without a source-validation split).
validators / plain is what a run pays for selection; validators / reading is what
the validators' computation adds to a pass over the images the protocol declares
for evaluation (their number is a protocol setting, ``selection.target_val_size``).

The cases above run one after another, so a change in the shared machine's speed between
them moves their ratio. The paired case times reading and validators alternately, round by
round, and keeps each round's ratio: their median and quartiles are in ``extra_info``
(and printed).
"""

import json

import pytest
from mmengine.runner import Runner

from harness.config import compile_config
from harness.evaluation import validate
from harness.evaluation.validators import build_validator
from harness.plan import make_plan
from harness.utils import unwrap

GROUP = "evaluation-point-digits"

SETS = {"five": ["entropy", "im", "bnm", "snd", "dev"],
        "target_only": ["entropy", "im", "bnm", "snd"]}


def _domains(names) -> tuple[str, ...]:
    """The splits ``validate.scores`` forwards for these validators."""
    reads = set().union(*(build_validator(name).reads for name in names))
    return ("target",) + (("source",) if reads & validate.SOURCE_KEYS else ())


def _val_loop(tmp_path, validators):
    sets = [f"selection.validators={json.dumps(validators)}"]
    plan = make_plan("digits_mnist_optdigits", "source_only", None, 0,
                     ["train.iters=1", "eval.points=1", *sets], work_dir=tmp_path, quiet=True)
    return Runner.from_cfg(compile_config(plan)).val_loop


def _plain_then_validators_images(plain, full, domains):
    """A plain point, then the forward passes ``validate.scores`` makes, no validator fed."""
    plain.run()
    model = unwrap(full.runner.model)
    model.eval()
    loaders = {"target": full.target_val, "source": full.loaders["source_val"]}
    for domain in domains:
        for _ in validate.validator_batches(model, loaders[domain], domain, 0, None, False):
            pass


@pytest.mark.benchmark(group=GROUP)
def test_evaluation_point_without_validators(benchmark, tmp_path):
    loop = _val_loop(tmp_path / "plain", [])
    benchmark.pedantic(loop.run, rounds=10, warmup_rounds=2)
    assert "validators" not in loop.points[-1]


@pytest.mark.benchmark(group=GROUP)
@pytest.mark.parametrize("validators", SETS)
def test_evaluation_point_reading_the_validators_images(benchmark, tmp_path, validators):
    names = SETS[validators]
    plain = _val_loop(tmp_path / "plain", [])
    full = _val_loop(tmp_path / "full", names)
    full.run()  # builds its source-validation loader, which the reading case borrows
    benchmark.pedantic(_plain_then_validators_images, args=(plain, full, _domains(names)),
                       rounds=10, warmup_rounds=2)


@pytest.mark.benchmark(group=GROUP)
@pytest.mark.parametrize("validators", SETS)
def test_evaluation_point_with_validators(benchmark, tmp_path, validators):
    names = SETS[validators]
    loop = _val_loop(tmp_path / "validators", names)
    benchmark.pedantic(loop.run, rounds=10, warmup_rounds=2)
    assert set(loop.points[-1]["validators"]) == set(names)


@pytest.mark.benchmark(group="evaluation-point-digits-paired")
@pytest.mark.parametrize("validators", SETS)
def test_validators_over_reading_paired(paired, tmp_path, validators):
    names = SETS[validators]
    plain = _val_loop(tmp_path / "plain", [])
    full = _val_loop(tmp_path / "full", names)
    domains = _domains(names)
    full.run()  # a warm-up of each, outside the rounds
    _plain_then_validators_images(plain, full, domains)
    paired.run({"reading": paired.timed(lambda: _plain_then_validators_images(plain, full, domains)),
                "full": paired.timed(full.run)},
               over=("full", "reading"), rounds=20, label=f"{validators}: validators / reading")
    assert set(full.points[-1]["validators"]) == set(names)
