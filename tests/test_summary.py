"""Headline means: only the subsets a protocol declares (never the 19-class mean where the
protocol says so), in the run summary, the eval table and the eval JSON."""

import io
import json

import numpy as np
import pytest
from rich.console import Console

import harness.checkpoint_eval
from harness.cli import main
from harness.data.classes import get_classes, subset_indices
from harness.evaluation.metrics import derive
from harness.protocol import load_protocol, protocol_names
from harness.summary import metrics_table


def fake_reports(protocol) -> dict:
    names = list(get_classes(protocol.classes).names)
    subsets = {s: subset_indices(s, protocol.classes) for s in protocol.report_subsets
               if s != "all"}
    confusion = np.random.default_rng(0).integers(0, 50, (len(names), len(names)))
    report = {**derive(confusion, names, subsets), "confusion": confusion.tolist(),
              "variants": {}}
    return {"target": report, "source": report}


@pytest.mark.parametrize("name", protocol_names())
def test_eval_shows_only_declared_headline_means(name, tmp_path, monkeypatch, capsys):
    protocol = load_protocol(name)
    monkeypatch.setattr(harness.checkpoint_eval, "evaluate_checkpoint",
                        lambda plan, checkpoint: fake_reports(protocol))
    out = tmp_path / "metrics.json"
    assert main(["eval", "--protocol", name, "--checkpoint", "x.pth", "--out", str(out)]) == 0
    reports = json.loads(out.read_text())
    declared = set(protocol.report_subsets) - {"all"}
    all_classes = "all" in protocol.report_subsets
    rows = {line.split("│")[1].strip() for line in capsys.readouterr().out.splitlines()
            if line.count("│") > 2}
    for metrics in reports.values():
        assert ("miou" in metrics) == ("mean_acc" in metrics) == all_classes
        assert set(metrics["subsets"]) == declared
        assert len(metrics["iou"]) == len(metrics["classes"]) and metrics["confusion"]
    headline = "mIoU" if protocol.task == "segmentation" else "mean class acc"
    assert (headline in rows) == all_classes
    assert {f"mIoU {s}" for s in declared} <= rows


def test_table_without_all_class_means_keeps_pixel_accuracy():
    protocol = load_protocol("synthia_cityscapes")
    report = fake_reports(protocol)["target"]
    del report["miou"], report["mean_acc"], report["fwiou"]
    text = io.StringIO()
    Console(file=text, width=200).print(metrics_table("t", {"target": report}, "segmentation"))
    assert "pixel acc" in text.getvalue() and "fwIoU" not in text.getvalue()
