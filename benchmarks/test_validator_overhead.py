"""One evaluation point on digits with and without the protocol's validators, side by side.

The selection target: validators add at most 25% to an evaluation point. Three
cases evaluate the same model (LeNet, digits_mnist_optdigits):

- plain: target test and source test (1,600 images), no validator;
- reading: the same, plus the forward passes the validators need (the 1,197
  unlabeled optdigits images and the 400 source-validation digits), no score;
- validators: a full evaluation point with entropy, IM, BNM, SND and DEV.

validators / plain is what a run pays for selection; validators / reading is what
the validators' computation adds to a pass over the images the protocol declares
for evaluation (their number is a protocol setting, ``selection.target_val_size``).
"""

import pytest
from mmengine.runner import Runner

from harness.config import compile_config
from harness.evaluation import validate
from harness.plan import make_plan
from harness.utils import unwrap

GROUP = "evaluation-point-digits"


def _val_loop(tmp_path, sets):
    plan = make_plan("digits_mnist_optdigits", "source_only", None, 0,
                     ["train.iters=1", "eval.points=1", *sets], work_dir=tmp_path, quiet=True)
    return Runner.from_cfg(compile_config(plan)).val_loop


def _plain_then_validators_images(plain, full):
    """A plain point, then the forward passes ``validate.scores`` makes, no validator fed."""
    plain.run()
    model = unwrap(full.runner.model)
    model.eval()
    for domain, loader in (("target", full.target_val), ("source", full.loaders["source_val"])):
        for _ in validate.validator_batches(model, loader, domain, 0, None, False):
            pass


@pytest.mark.benchmark(group=GROUP)
def test_evaluation_point_without_validators(benchmark, tmp_path):
    loop = _val_loop(tmp_path / "plain", ["selection.validators=[]"])
    benchmark.pedantic(loop.run, rounds=3, warmup_rounds=1)
    assert "validators" not in loop.points[-1]


@pytest.mark.benchmark(group=GROUP)
def test_evaluation_point_reading_the_validators_images(benchmark, tmp_path):
    plain = _val_loop(tmp_path / "plain", ["selection.validators=[]"])
    full = _val_loop(tmp_path / "full", [])
    full.run()  # builds its source-validation loader, which the reading case borrows
    benchmark.pedantic(_plain_then_validators_images, args=(plain, full), rounds=3,
                       warmup_rounds=1)


@pytest.mark.benchmark(group=GROUP)
def test_evaluation_point_with_validators(benchmark, tmp_path):
    loop = _val_loop(tmp_path / "validators", [])
    benchmark.pedantic(loop.run, rounds=3, warmup_rounds=1)
    assert set(loop.points[-1]["validators"]) == {"entropy", "im", "bnm", "snd", "dev"}
