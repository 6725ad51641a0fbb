"""scripts/dev_weights_probe.py: what it keeps re-scores to the recorded DEV, bit for bit."""

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "dev_weights_probe.py"
#: The default protocol (DEV among its validators) cut to seconds: three evaluation points.
TINY = ["train.iters=12", "train.checkpoint_interval=4", "eval.points=3"]


@pytest.fixture(scope="module")
def probe():
    spec = importlib.util.spec_from_file_location("dev_weights_probe", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def kept_run(probe, tmp_path_factory):
    """One tiny run of the default protocol, its DEV inputs kept (shared: read only)."""
    root = tmp_path_factory.mktemp("probe")
    sets = [arg for s in TINY for arg in ("--set", s)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARNESS_CACHE", str(root / "cache"))
        assert probe.main(["run", str(root / "probe"), "--", "--quiet", *sets,
                           "--work-dir", str(root / "work")]) == 0
    return root / "probe"


def test_effective_size_by_hand(probe):
    assert probe.effective_size(np.ones(4)) == pytest.approx(4.0)
    assert probe.effective_size(np.array([5.0, 0.0, 0.0, 0.0])) == pytest.approx(1.0)
    assert probe.effective_size(np.array([1.0, 1.0, 2.0])) == pytest.approx(16 / 6)


def test_kept_points_rescore_to_the_recorded_dev(probe, kept_run):
    (kept,) = kept_run.glob("*.dev.npz")
    (record,) = (kept_run / "records").rglob("*.json")
    assert kept.name == f"{record.stem}.dev.npz"
    runs = probe.points(kept_run)
    (points,) = runs.values()
    assert len(points) == 3  # TINY: three evaluation points
    table = probe.analyse(kept_run)  # raises unless the validator's settings re-score exactly
    assert list(table.index) == list(probe.VARIANTS)
    n_source = len(points[0][0])
    for sizes in table.filter(like="n_eff").iloc[:, 0]:
        low, high = map(float, sizes.split("-"))
        assert 1.0 <= low <= high <= n_source


def test_a_record_that_does_not_match_is_refused(probe, kept_run, tmp_path):
    kept_run = Path(shutil.copytree(kept_run, tmp_path / "copy"))
    (record,) = (kept_run / "records").rglob("*.json")
    data = json.loads(record.read_text())
    data["evaluations"][0]["validators"]["dev"] += 1e-9
    record.write_text(json.dumps(data))
    with pytest.raises(SystemExit, match="not the one recorded"):
        probe.analyse(kept_run)


def test_nothing_kept_is_an_error(probe, tmp_path):
    with pytest.raises(SystemExit, match="no \\*.dev.npz"):
        probe.analyse(tmp_path)


def test_a_point_dev_left_unscored_is_matched_and_left_out_of_the_correlation(probe, tmp_path):
    # Three points of a synthetic run; at the second, a held-out source sample deep on the
    # target side overflows its weight: the record has no DEV there (None), and the
    # re-score must agree that it is undefined rather than call the record foreign.
    rng = np.random.default_rng(0)
    arrays, evaluations = {}, []
    for i, accuracy in enumerate([60.0, 70.0, 65.0]):
        features = rng.normal(size=(30, 2)) + [3.0, 0.0]
        if i == 1:
            features[7, 0] = -1e6
        source = np.c_[features, rng.uniform(0.1, 2.0, size=30)]
        target = rng.normal(size=(30, 2)) - [3.0, 0.0]
        risk, _ = probe.score(source, target, 3, probe.classifier(None))
        arrays |= {f"source{i}": source, f"target{i}": target}
        evaluations.append({"validators": {"dev": risk if np.isfinite(risk) else None},
                            "target": {"pixel_acc": accuracy}})
    assert [e["validators"]["dev"] is None for e in evaluations] == [False, True, False]
    (tmp_path / "r.json").write_text(json.dumps(
        {"method": {"name": "m"}, "seed": 0, "evaluations": evaluations}))
    np.savez(tmp_path / "r.dev.npz", record="r.json", **arrays)
    row = probe.analyse(tmp_path).iloc[0]
    assert row["undefined"] == 1
    assert row["pooled rho"] == pytest.approx(-1.0 if evaluations[0]["validators"]["dev"]
                                              < evaluations[2]["validators"]["dev"] else 1.0)
