"""ST / CBST: selection per the papers' rules, rounds, and resume mid-round."""


import pytest
import torch
from mmengine.hooks import Hook

from harness.plan import make_plan
from harness.registry import HOOKS
from harness.results import load_record
from harness.rounds import Artifacts, RoundContext
from harness.run import train_and_record
from harness.selftrain.thresholds import classwise_thresholds_sorted, global_threshold_sorted

SETS = ["train.iters=12", "train.checkpoint_interval=2", "train.batch=32", "eval.points=1",
        "selection.validators=[]"]


class FixedProbs(torch.utils.data.Dataset):
    """A target split whose predicted probabilities are known in advance."""

    def __init__(self, probs):
        self.probs = probs

    def __len__(self):
        return len(self.probs)

    def __getitem__(self, i):
        return {"inputs": self.probs[i]}


@pytest.mark.parametrize("method", ["st", "cbst"])
def test_selection_matches_the_sort_based_rule(method, tmp_path, monkeypatch, build_method):
    model, _ = build_method("digits_mnist_optdigits", method, sets=SETS)
    g = torch.Generator().manual_seed(0)
    # Class 0 dominates with high confidence: ST would take almost only class 0.
    logits = torch.randn(2000, 10, generator=g)
    logits[:1500, 0] += 4.0
    probs = logits.softmax(1)
    monkeypatch.setattr(model, "predict", lambda x: x.log())  # softmax(log p) == p
    model.on_round_start(RoundContext(0, Artifacts(tmp_path / "artifacts"), {},
                                      built={"target": FixedProbs(probs)}))
    labels = model.pseudo_labels
    conf, pred = probs.max(1)
    if method == "st":
        t = global_threshold_sorted(conf, 0.2)
        expected = torch.where(conf >= t - 1e-4, pred, 255)
        assert abs((labels != 255).float().mean().item() - 0.2) < 0.01
    else:
        t = classwise_thresholds_sorted(conf, pred, 10, 0.2)
        for c in range(10):  # each class keeps about 20% of its own predictions
            own = pred == c
            kept = (labels[own] == c).float().mean().item()
            assert abs(kept - 0.2) < 0.02
        expected = None
    if expected is not None:
        assert (labels == expected).float().mean() > 0.999
    assert (tmp_path / "artifacts" / "round_0.pt").is_file()


def test_a_finished_round_is_reloaded_not_recomputed(tmp_path, monkeypatch, build_method):
    model, _ = build_method("digits_mnist_optdigits", "cbst", sets=SETS)
    saved = {"labels": torch.tensor([3, 255, 1]), "thresholds": torch.ones(10),
             "portion": torch.tensor(0.2)}
    (tmp_path / "artifacts").mkdir()
    torch.save(saved, tmp_path / "artifacts" / "round_1.pt")

    def fail(*a, **k):
        raise AssertionError("recomputed a finished round")

    monkeypatch.setattr(model, "_select", fail)
    model.on_round_start(RoundContext(1, Artifacts(tmp_path / "artifacts"), {}))
    assert model.pseudo_labels.tolist() == [3, 255, 1]


@HOOKS.register_module(force=True)
class StopAfter(Hook):
    def __init__(self, at):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter == self.at:
            raise KeyboardInterrupt


def run(tmp_path, name, hook=None, resume=False):
    plan = make_plan("digits_mnist_optdigits", "cbst", None, 0, SETS, work_dir=tmp_path / name,
                     results_dir=tmp_path / "records", resume=resume, quiet=True)
    return train_and_record(plan, (hook,) if hook else ())


@pytest.mark.slow  # four digits runs with worker processes: about 2 min on 2 idle cores
def test_interrupted_mid_round_resumes_to_the_same_result(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    from harness.run import ensure_source_model

    ensure_source_model(make_plan("digits_mnist_optdigits", "cbst", None, 0, SETS, quiet=True))
    full, _ = run(tmp_path, "full")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "cut", hook={"type": "StopAfter", "at": 6})  # rounds of 4: inside round 1
    rounds = sorted(p.name for p in (tmp_path / "cut" / "artifacts").iterdir())
    assert rounds == ["round_0.pt", "round_1.pt"]
    stamp = (tmp_path / "cut" / "artifacts" / "round_1.pt").stat().st_mtime_ns
    resumed, path = run(tmp_path, "cut", resume=True)
    assert (tmp_path / "cut" / "artifacts" / "round_1.pt").stat().st_mtime_ns == stamp
    assert resumed.metrics["target"].confusion == full.metrics["target"].confusion
    assert load_record(path).method.source_model.run_id
