"""Run-level reliability: resume (finished runs, foreign, unsafe, truncated and copied
checkpoints), locks, output checks and non-finite guards, on one shared tiny digits run."""

import errno
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
import torch
from filelock import FileLock
from mmengine.runner import CheckpointLoader

from harness import checkpoints
from harness.checkpoints import CheckpointError, ResumeError, install_safe_loading
from harness.guards import FiniteOptimWrapper, NonFiniteGradError, NonFiniteStateError
from harness.hooks import CheckpointGuardHook
from harness.outputs import WORK_DIR_LOCK, OutputError
from harness.plan import make_plan
from harness.run import ensure_source_model, execute, train_and_record

#: The shared tiny digits run (conftest.TINY).
TINY = ["train.iters=12", "train.checkpoint_interval=4", "train.log_interval=4", "eval.points=3"]


def plan_for(work_dir: Path, sets=TINY, seed=0, resume=True, results_dir=None, method=None):
    return make_plan("digits_mnist_optdigits", method, None, seed, list(sets), work_dir=work_dir,
                     results_dir=results_dir or work_dir.parent / "records", resume=resume,
                     quiet=True)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A finished 12-iteration run (checkpoints at 8 and 12); tests copy its work dir."""
    root = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # nothing (the source-model cache entry) lands in the checkout
        record, _ = train_and_record(plan_for(root / "run", resume=False))
    return root / "run", record


def copy_of(trained, dest: Path) -> Path:
    shutil.copytree(trained[0], dest)
    return dest


def confusions(record):
    return {d: m.confusion for d, m in record.metrics.items()}


def test_resume_of_a_finished_copied_run_evaluates_from_its_own_files(tmp_path, trained):
    # Points 1 and 8: the record was never written (bad --results-dir, kill during
    # evaluation); the work dir was copied and the original is gone.
    original = copy_of(trained, tmp_path / "original")
    assert (original / "last_checkpoint").read_text() == "iter_12.pth"  # relative
    copy = copy_of(trained, tmp_path / "copy")
    shutil.rmtree(original)
    record, path = train_and_record(plan_for(copy))
    assert path.is_file() and record.train.iters == 12
    assert confusions(record) == confusions(trained[1])


def test_truncated_last_checkpoint_falls_back_to_the_previous_one(tmp_path, trained,
                                                                 monkeypatch):
    work = copy_of(trained, tmp_path / "w")
    last = work / "iter_12.pth"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    plan = plan_for(work)
    said = []
    monkeypatch.setattr(checkpoints, "print_log", lambda msg, **kw: said.append(msg))
    assert checkpoints.resume_checkpoint(work, plan.identity) == work / "iter_8.pth"
    assert said == [said[0]] and said[0].startswith("cannot load iter_12.pth (RuntimeError")
    assert said[0].endswith("resuming from iter_8.pth")
    record, _ = train_and_record(plan)  # iterations 9-12 again: the same weights
    assert confusions(record) == confusions(trained[1])


def test_resume_refuses_another_runs_checkpoint(tmp_path, trained):
    work = copy_of(trained, tmp_path / "w")
    plan = plan_for(work, [*TINY, "train.lr=0.01"], seed=5)
    with pytest.raises(ResumeError, match=r"seed 0.*not by this run .*seed 5"):
        train_and_record(plan)
    assert not (work / "iter_16.pth").exists()


class Payload:
    """Unpickling this would create a folder: a stand-in for arbitrary code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path, trained):
    work = copy_of(trained, tmp_path / "w")
    marker = tmp_path / "pwned"
    torch.save({"meta": Payload(marker), "state_dict": {}}, work / "iter_12.pth")
    with pytest.raises(CheckpointError, match="refused"):
        train_and_record(plan_for(work))
    install_safe_loading()  # mmengine's own loader (Runner.resume, load_from) as well
    with pytest.raises(CheckpointError, match="refused"):
        CheckpointLoader.load_checkpoint(str(work / "iter_12.pth"))
    assert not marker.exists()
    # The harness's own checkpoints load with weights_only=True.
    torch.load(trained[0] / "iter_8.pth", weights_only=True)


def test_a_second_run_in_a_locked_work_dir_fails_fast(tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    with FileLock(work / WORK_DIR_LOCK), pytest.raises(OutputError, match="in use"):
        train_and_record(plan_for(work, resume=False))
    assert not list(work.glob("*.pth"))


def test_unwritable_outputs_fail_before_training(tmp_path):
    not_a_dir = tmp_path / "records"
    not_a_dir.write_text("a file")
    plan = plan_for(tmp_path / "w", resume=False, results_dir=not_a_dir)
    with pytest.raises(OutputError, match=r"--results-dir .*records: not a writable folder"):
        execute(plan)
    assert not list((tmp_path / "w").glob("*.pth"))


def test_a_full_disk_leaves_no_partial_checkpoint(tmp_path, monkeypatch):
    def full_disk(path, data):
        with checkpoints.atomic_path(path) as tmp:
            tmp.write_bytes(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints, "atomic_write", full_disk)
    work = tmp_path / "w"
    with pytest.raises(OSError, match="No space"):
        train_and_record(plan_for(work, ["train.iters=4", "train.checkpoint_interval=4", "eval.points=1"],
                                  resume=False))
    assert sorted(p.name for p in work.iterdir() if p.suffix in {".pth", ".tmp"}) == []


def test_two_runs_needing_the_source_model_train_it_once(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    plan = plan_for(tmp_path / "w", method="calibrator", resume=False)
    trainings = []

    def train(source_plan):
        trainings.append(source_plan.method)
        time.sleep(0.3)  # long enough for the other run to arrive
        source_plan.source_cache.parent.mkdir(parents=True, exist_ok=True)
        source_plan.source_cache.write_bytes(b"weights")

    monkeypatch.setattr("harness.run.train_and_record", train)
    runs = [threading.Thread(target=ensure_source_model, args=(plan,)) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert trainings == ["source_only"] and plan.source_cache.read_bytes() == b"weights"


def test_non_finite_gradients_are_never_applied(build_method):
    model, wrapper = build_method("digits_mnist_optdigits", "source_only")
    assert isinstance(wrapper, FiniteOptimWrapper)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    weight = next(model.parameters())
    weight.register_hook(lambda grad: grad * float("inf"))  # finite loss, infinite gradient
    loss = sum(p.sum() for p in model.parameters())
    with pytest.raises(NonFiniteGradError, match="gradient norm is (inf|nan)"):
        wrapper.update_params(loss)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_non_finite_weights_are_never_saved():
    hook = CheckpointGuardHook({"key": "k"})
    state = {"net.w": torch.tensor([1.0, float("nan")]), "steps": torch.tensor(3)}
    with pytest.raises(NonFiniteStateError, match="net.w"):
        hook.before_save_checkpoint(None, {"meta": {"iter": 8}, "state_dict": state})
