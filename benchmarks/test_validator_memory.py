"""Peak memory of one segmentation evaluation point with and without validators.

The selection target: on segmentation at 2048x1024 with pixel sampling
(``selection.pixels_per_image``), validators keep the memory of an evaluation
point within 10% of a plain one. Both variants evaluate the same randomly
initialised DRN-26 on gta5_cityscapes fixtures written at 2048x1024 (labels at
full size, inputs at the protocol's 1460x730): target test, source test and,
with validators, source validation plus entropy, IM, BNM, SND and DEV on the
unlabeled target images. Each variant runs in its own process so that its peak
is its own: the growth of the peak resident set (``VmHWM``, reset through
``/proc/self/clear_refs`` once the runner is built) during the evaluation, on CPU.

    python -m pytest benchmarks/test_validator_memory.py -o addopts=--import-mode=importlib \
        --benchmark-enable -s
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.data.fixtures import write_fixtures

SIZE = (2048, 1024)
#: Validators on: every one the protocol schema offers for segmentation.
VALIDATORS = '["entropy", "im", "bnm", "snd", "dev"]'
COMMON = ["source.options.subset=2", "target.options.subset=2", "train.iters=1",
          "eval.points=1", "train.workers=0"]

_CHILD = """
import json, sys
from pathlib import Path
from mmengine.runner import Runner
from harness.config import compile_config
from harness.plan import make_plan

def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

root, work, sets = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
plan = make_plan("gta5_cityscapes", "source_only", "drn_c26", 0, sets,
                 data_root=Path(root), work_dir=Path(work), quiet=True)
loop = Runner.from_cfg(compile_config(plan)).val_loop
before = status("VmRSS")
Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
loop.run()
print(json.dumps({"before": before, "peak": status("VmHWM"),
                  "validators": sorted(loop.points[-1].get("validators", {}))}))
"""


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("fixtures_2048")
    for dataset in ("gta5", "cityscapes"):
        write_fixtures(dataset, root, size=SIZE)
    return root


def _evaluation_point(root: Path, work: Path, sets: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(root), str(work), json.dumps(sets)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.benchmark(group="evaluation-memory-segmentation")
def test_validators_keep_segmentation_evaluation_memory(benchmark, data_root, tmp_path):
    plain = _evaluation_point(data_root, tmp_path / "plain",
                              [*COMMON, "selection.validators=[]"])
    scored = benchmark.pedantic(
        _evaluation_point, args=(data_root, tmp_path / "scored",
                                 [*COMMON, f"selection.validators={VALIDATORS}",
                                  "selection.source_val_fraction=0.5"]),
        rounds=1, iterations=1)
    assert scored["validators"] == ["bnm", "dev", "entropy", "im", "snd"]
    growth = {name: r["peak"] - r["before"] for name, r in (("plain", plain), ("scored", scored))}
    benchmark.extra_info.update({
        "plain_growth_mb": growth["plain"] / 2**20, "validators_growth_mb": growth["scored"] / 2**20,
        "growth_ratio": growth["scored"] / growth["plain"],
        "peak_ratio": scored["peak"] / plain["peak"]})
    print(f"\nevaluation point at {SIZE[0]}x{SIZE[1]}: peak RSS growth "
          f"{growth['plain'] / 2**20:.0f} MB plain, {growth['scored'] / 2**20:.0f} MB with "
          f"validators (x{growth['scored'] / growth['plain']:.3f}); whole-process peak "
          f"x{scored['peak'] / plain['peak']:.3f}")
