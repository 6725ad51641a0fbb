"""Two processes (torchrun, gloo on CPU): training completes, evaluation equals one process."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from harness.record_samples import load_run_samples
from harness.results import load_record

#: Minutes of end-to-end processes: run apart by .ci/run (`python -m pytest -m slow`).
pytestmark = pytest.mark.slow

TINY = ["--set", "train.iters=6", "--set", "train.checkpoint_interval=6", "--set",
        "train.batch=32", "--set", "eval.points=2"]


def one_process_labels() -> np.ndarray:
    """The target test labels in dataset order, read in this process."""
    from harness.external import target_loader
    from harness.plan import make_plan

    return np.concatenate([b["label"].numpy()
                           for b in target_loader(make_plan("digits_mnist_optdigits"))])


def torchrun(*args, cwd):
    if shutil.which("torchrun") is None:
        pytest.skip("torchrun is not on PATH")
    cmd = ["torchrun", "--standalone", "--nproc-per-node", "2", "-m", "harness", *args,
           "--launcher", "pytorch"]
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def test_ddp_training_completes_and_evaluation_matches_one_process(tmp_path):
    torchrun("run", "--quiet", "--work-dir", str(tmp_path / "w"), "--results-dir",
             str(tmp_path / "r"), *TINY, cwd=tmp_path)
    records = list((tmp_path / "r").rglob("*.json"))
    assert len(records) == 1  # rank 0 writes the one record
    record = json.loads(records[0].read_text())
    assert record["device"]["world_size"] == 2
    # Rank 0 gathered every target image's counts, in dataset order, beside the record.
    samples = load_run_samples(load_record(records[0]), tmp_path / "r")
    summed = np.zeros((10, 10), dtype=np.int64)
    np.add.at(summed, (samples.gt, samples.pred), samples.count)
    assert samples.n_images == 600 and summed.tolist() == record["metrics"]["target"]["confusion"]
    assert (samples.gt == one_process_labels()).all()
    weights = tmp_path / "w" / "model_final.pth"
    torchrun("eval", "--checkpoint", str(weights), "--out", str(tmp_path / "two.json"), *TINY,
             cwd=tmp_path)
    subprocess.run([sys.executable, "-m", "harness", "eval", "--checkpoint", str(weights),
                    "--out", str(tmp_path / "one.json"), *TINY], cwd=tmp_path, check=True,
                   capture_output=True)
    two = json.loads((tmp_path / "two.json").read_text())
    one = json.loads((tmp_path / "one.json").read_text())
    for domain in ("target", "source"):
        assert two[domain]["confusion"] == one[domain]["confusion"]
    assert sum(map(sum, one["target"]["confusion"])) == 600  # no sample padded or dropped
