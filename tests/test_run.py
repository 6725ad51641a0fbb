"""End to end on the embedded protocol, cut to a few iterations."""

from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook

from harness.checkpoint_eval import evaluate_checkpoint
from harness.checkpoints import FINAL_NAME, CheckpointError
from harness.evaluation.metrics import derive
from harness.evaluation.validators import UndefinedScore
from harness.evaluation.validators.dev import DeepEmbeddedValidation
from harness.method import NonFiniteLossError
from harness.plan import make_plan
from harness.protocol import load_protocol
from harness.registry import HOOKS
from harness.results import load_record, load_records
from harness.run import execute, train_and_record
from harness.selection import SelectionError


@HOOKS.register_module(force=True)
class InterruptAt(Hook):
    """Simulates Ctrl-C after iteration ``at`` (0-based), once checkpoints exist."""

    def __init__(self, at: int):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter == self.at:
            raise KeyboardInterrupt


@HOOKS.register_module(force=True)
class PoisonWeightsAt(Hook):
    """Makes every weight NaN before iteration ``at``: the loss becomes non-finite."""

    def __init__(self, at: int):
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.at:
            with torch.no_grad():
                for p in runner.model.parameters():
                    p.fill_(float("nan"))


class Opaque:
    """A pickled object that is no tensor or plain data: weights_only=True refuses it."""


def run(tmp_path: Path, sets, method="source_only", name="a", extra_hook=None, resume=False):
    plan = make_plan("digits_mnist_optdigits", method, None, 0, sets, work_dir=tmp_path / name,
                     results_dir=tmp_path / "records", resume=resume, quiet=True)
    return train_and_record(plan, (extra_hook,) if extra_hook else ())


def test_record_is_complete_and_consistent(tmp_path, tiny_sets):
    record, path = run(tmp_path, tiny_sets)
    assert load_record(path) == record
    assert record.protocol.hash == load_protocol("digits_mnist_optdigits").hash
    assert record.protocol.effective_hash == load_protocol(
        "digits_mnist_optdigits", {"train.iters": 12, "train.checkpoint_interval": 4,
                                   "train.log_interval": 4, "eval.points": 3}).hash
    assert record.protocol.overrides == {"train.iters": 12, "train.checkpoint_interval": 4,
                                         "train.log_interval": 4, "eval.points": 3}
    assert record.train.iters == 12 and record.selection.rule == "last"
    assert record.packages["torch"] and record.code.version
    assert record.device.type in {"cpu", "cuda"}
    assert record.device.cpu_capability == (
        None if record.device.type == "cuda" else torch.backends.cpu.get_cpu_capability())
    # Peak memory: the kernel's high-water mark of this process (VmHWM, read independently
    # of ru_maxrss) only grows, and torch alone holds more than 100 MiB.
    status = Path("/proc/self/status").read_text()
    high_water = int(status.split("VmHWM:")[1].split()[0]) / 1024
    assert 100 < record.train.peak_rss_mib <= high_water + 1
    assert (record.train.peak_cuda_mib is None) == (record.device.type == "cpu")
    # CyCADA LeNet by hand: conv 1->20 5x5, conv 20->50 5x5, fc 800->500, fc 500->10.
    assert record.backbone.params == (20 * 25 + 20) + (50 * 20 * 25 + 50) + (
        800 * 500 + 500) + (500 * 10 + 10)
    for domain, n in (("target", 600), ("source", 1000)):
        m = record.metrics[domain]
        confusion = np.array(m.confusion)
        assert confusion.sum() == n and record.data[f"{domain}_test"].n == n
        again = derive(confusion, m.classes)
        assert again["acc"] == m.acc and again["pixel_acc"] == m.pixel_acc
        assert record.data[f"{domain}_test"].fingerprint


def test_resume_after_interrupt_equals_uninterrupted(tmp_path, tiny_sets):
    full, _ = run(tmp_path, tiny_sets, name="full")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, tiny_sets, name="cut", extra_hook={"type": "InterruptAt", "at": 6})
    assert (tmp_path / "cut" / "iter_4.pth").is_file()
    assert not (tmp_path / "cut" / FINAL_NAME).exists()
    records, _ = load_records(tmp_path / "records")
    assert [r.run_id for r in records] == [full.run_id]  # the interrupted run wrote nothing
    resumed, _ = run(tmp_path, tiny_sets, name="cut", resume=True)
    for domain in ("target", "source"):
        assert resumed.metrics[domain].confusion == full.metrics[domain].confusion
    # Every evaluation point, including the one the checkpoint was saved just before.
    assert resumed.evaluations == full.evaluations
    assert resumed.selection == full.selection


def test_every_evaluation_point_is_recorded_with_what_each_rule_reads(tmp_path, tiny_sets):
    record, _ = run(tmp_path, tiny_sets)
    assert [p.iter for p in record.evaluations] == [4, 8, 12]
    validators = set(load_protocol("digits_mnist_optdigits").selection.validators)
    for point in record.evaluations:
        assert set(point.validators) == validators
        assert point.source_val.n == 400 and point.target.n == 600 and point.source.n == 1000
        assert all(np.isfinite(v) for v in point.validators.values())
    # 10% of the 4,000 training digits held out, and the rest trained on; both hashed.
    assert record.data["source_val"].n == 400 and record.data["target_val"].n == 1197
    picks = record.selection.picks
    assert set(picks) == {"last", "source_val", "oracle", *validators}
    assert picks["last"] == 12 and record.selection.iter == 12
    best = max(record.evaluations, key=lambda p: p.target.pixel_acc)
    assert picks["oracle"] == best.iter
    assert record.metrics["target"] == record.evaluations[-1].target


def test_a_declared_rule_other_than_last_reports_and_keeps_its_pick(tmp_path, tiny_sets):
    record, _ = run(tmp_path, [*tiny_sets, "selection.rule=source_val"])
    pick = record.selection.picks["source_val"]
    assert record.selection.iter == pick and not record.selection.uses_target_labels
    point = next(p for p in record.evaluations if p.iter == pick)
    assert record.metrics["target"] == point.target
    assert point.source_val.pixel_acc == max(p.source_val.pixel_acc for p in record.evaluations)
    assert (tmp_path / "a" / "model_selected.pth").is_file()


@pytest.fixture
def dev_undefined(monkeypatch):
    """DEV with no score at any point, as when its importance weights overflow."""
    def score(self):
        raise UndefinedScore("the importance weights overflow (largest inf of 400 ...)")
    monkeypatch.setattr(DeepEmbeddedValidation, "score", score)


def test_a_validator_without_scores_is_recorded_as_none_and_picks_nothing(
        tmp_path, tiny_sets, dev_undefined):
    record, path = run(tmp_path, tiny_sets)
    assert [p.validators["dev"] for p in record.evaluations] == [None, None, None]
    assert all(v is not None for p in record.evaluations for k, v in p.validators.items()
               if k != "dev")
    assert record.selection.picks["dev"] is None and record.selection.picks["last"] == 12
    assert '"dev": null' in path.read_text()  # plain JSON, and it reads back
    assert load_record(path) == record


def test_a_declared_validator_rule_without_scores_is_a_clear_error(tmp_path, tiny_sets,
                                                                    dev_undefined):
    with pytest.raises(SelectionError, match=r"selection.rule = 'dev': the validator scored "
                                             r"none of the 3 evaluation points.*'last'"):
        run(tmp_path, [*tiny_sets, "selection.rule=dev"])
    assert (tmp_path / "a" / "iter_12.pth").is_file()  # the trained run is kept
    assert not list(tmp_path.rglob("records/**/*.json"))  # and no record claims a pick


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, tiny_sets):
    with pytest.raises(NonFiniteLossError, match="non-finite loss"):
        run(tmp_path, tiny_sets, extra_hook={"type": "PoisonWeightsAt", "at": 5})
    state = torch.load(tmp_path / "a" / "iter_4.pth", weights_only=False)["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    assert not (tmp_path / "records").exists()


def test_oracle_trains_on_target_labels_and_is_flagged(tmp_path, tiny_sets):
    record, _ = run(tmp_path, tiny_sets, method="oracle")
    assert record.method.uses_target_labels is True
    assert record.method.train_domains == ["target"]


def test_eval_reproduces_the_record_and_rejects_a_foreign_checkpoint(tmp_path, tiny_sets):
    record, _ = run(tmp_path, tiny_sets)
    spec = make_plan("digits_mnist_optdigits", None, None, 0, tiny_sets)
    reports = evaluate_checkpoint(spec, tmp_path / "a" / FINAL_NAME)
    assert reports["target"]["confusion"] == record.metrics["target"].confusion
    foreign = tmp_path / "foreign.pth"
    state = torch.load(tmp_path / "a" / FINAL_NAME, weights_only=True)
    state["state_dict"]["net.head.weight"] = torch.zeros(5, 500)
    torch.save(state, foreign)
    with pytest.raises(CheckpointError, match=r"net\.head\.weight: file \(5, 500\)"):
        evaluate_checkpoint(spec, foreign)
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"state_dict": state["state_dict"], "meta": Opaque()}, unsafe)
    with pytest.raises(CheckpointError, match="weights_only"):
        evaluate_checkpoint(spec, unsafe)


def test_execute_writes_under_the_protocol_folder(tmp_path, tiny_sets):
    plan = make_plan("digits_mnist_optdigits", None, None, 1, tiny_sets, work_dir=tmp_path / "w",
                     results_dir=tmp_path / "out", quiet=True)
    record, path = execute(plan)
    assert path == tmp_path / "out" / "digits_mnist_optdigits" / f"{record.run_id}.json"
