"""One evaluation point on digits with and without the protocol's validators, side by side.

The selection target: validators add at most 25% to an evaluation point. Both
cases evaluate the same model (LeNet, digits_mnist_optdigits) on target test,
source test and source validation; the second also scores entropy, IM, BNM,
SND and DEV on the 1,197 unlabeled optdigits images.
"""

import pytest
from mmengine.runner import Runner

from harness.config import compile_config
from harness.plan import make_plan


def _val_loop(tmp_path, sets):
    plan = make_plan("digits_mnist_optdigits", "source_only", None, 0,
                     ["train.iters=1", "eval.points=1", *sets], work_dir=tmp_path, quiet=True)
    return Runner.from_cfg(compile_config(plan)).val_loop


@pytest.mark.benchmark(group="evaluation-point-digits")
def test_evaluation_point_without_validators(benchmark, tmp_path):
    loop = _val_loop(tmp_path / "plain", ["selection.validators=[]"])
    benchmark.pedantic(loop.run, rounds=3, warmup_rounds=1)


@pytest.mark.benchmark(group="evaluation-point-digits")
def test_evaluation_point_with_validators(benchmark, tmp_path):
    loop = _val_loop(tmp_path / "validators", [])
    benchmark.pedantic(loop.run, rounds=3, warmup_rounds=1)
    assert set(loop.points[-1]["validators"]) == {"entropy", "im", "bnm", "snd", "dev"}
