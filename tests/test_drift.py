import pytest
from rich.console import Console

import harness.run
from harness.drift import compare, load_baseline, run_drift
from harness.protocol import ProtocolError

BASELINE = """
protocol = "digits_mnist_optdigits"
method = "source_only"
backbone = "lenet"
seed = 0
overrides = ["train.iters=3", "eval.points=1"]
tolerance = 1.0

[expected]
"target.pixel_acc" = {target}
"source.pixel_acc" = 50.0
"""


def write(tmp_path, target=50.0):
    path = tmp_path / "b.toml"
    path.write_text(BASELINE.format(target=target))
    return path


def test_compare_uses_the_tolerance(tmp_path, make_record):
    base = load_baseline(write(tmp_path, target=50.9))
    rows = {r["metric"]: r for r in compare(base, make_record(acc=50.0))}
    assert rows["target.pixel_acc"]["ok"] and rows["source.pixel_acc"]["ok"]
    base = load_baseline(write(tmp_path, target=51.2))
    rows = {r["metric"]: r for r in compare(base, make_record(acc=50.0))}
    assert not rows["target.pixel_acc"]["ok"] and rows["source.pixel_acc"]["ok"]


def test_bad_baseline_file_is_named(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("extra = 1\n" + BASELINE.format(target=1))
    with pytest.raises(ProtocolError, match="bad.toml"):
        load_baseline(path)


@pytest.mark.parametrize("target, code", [(50.5, 0), (55.0, 1)])
def test_run_drift_exit_code_and_table(tmp_path, monkeypatch, make_record, target, code):
    monkeypatch.setattr(harness.run, "execute", lambda *a, **k: (make_record(acc=50.0), None))
    write(tmp_path, target=target)
    console = Console(record=True, width=120)
    assert run_drift(tmp_path, console) == code
    text = console.export_text()
    assert ("DRIFT" in text) == bool(code) and "target.pixel_acc" in text


def test_committed_baselines_are_valid():
    from harness import PROJECT_ROOT

    files = sorted((PROJECT_ROOT / "results" / "baselines").glob("*.toml"))
    assert files
    for path in files:
        base = load_baseline(path)
        assert base.expected and base.tolerance > 0
