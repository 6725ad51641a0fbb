import numpy as np
import pandas as pd
from rich.console import Console

from harness.leaderboard import REPORTED_DIR, build_all, build_pages, reproduced_table
from harness.protocol import load_protocol
from harness.results import load_records, write_record

DIGITS = load_protocol("digits_mnist_optdigits")


def records(make_record, directory, accs=(70.0, 72.0, 77.0), oracle=99.0):
    for seed, acc in enumerate(accs):
        write_record(make_record(seed, acc, protocol_hash=DIGITS.hash, method="source_only",
                                 classes=[str(i) for i in range(10)]), directory)
    write_record(make_record(0, oracle, protocol_hash=DIGITS.hash, method="oracle",
                             uses_target_labels=True, classes=[str(i) for i in range(10)]),
                 directory)


def test_mean_and_standard_error_over_seeds(tmp_path, make_record):
    records(make_record, tmp_path)
    pages, problems, plots = build_pages(tmp_path)
    assert not problems
    page = pages["digits_mnist_optdigits.md"]
    accs = np.array([70.0, 72.0, 77.0])
    expected = f"{accs.mean():.2f} ± {accs.std(ddof=1) / np.sqrt(3):.2f}"
    assert expected in page
    assert "plots/digits_mnist_optdigits_tradeoff.png" in page and plots
    table = reproduced_table(DIGITS, load_records(tmp_path)[0])
    assert list(table["method"]) == ["source_only", "oracle (upper bound: trained on target labels)"]
    assert list(table["seeds"]) == [3, 1]
    assert {"target acc", "source acc", "selection"} <= set(table.columns)


def test_runs_of_another_protocol_version_are_excluded(tmp_path, make_record):
    records(make_record, tmp_path)
    write_record(make_record(5, 10.0, protocol_hash="other", method="source_only"), tmp_path)
    write_record(make_record(6, 11.0, protocol_hash=DIGITS.hash, method="source_only",
                             overrides={"train.iters": 3}), tmp_path)
    write_record(make_record(7, 12.0, protocol_hash=DIGITS.hash, method="st",
                             overrides={"model.init": "weights.pth"}), tmp_path)
    page = build_pages(tmp_path)[0]["digits_mnist_optdigits.md"]
    assert "Excluded: 2 run(s)" in page and "10.00" not in page and "11.00" not in page
    assert "12.00" in page  # a local weights path does not change the benchmark


def test_check_passes_when_current_and_fails_on_edits_and_corrupt_records(tmp_path, make_record):
    runs, out = tmp_path / "runs", tmp_path / "boards"
    records(make_record, runs)
    console = Console(record=True, width=200)
    assert build_all(runs, out, check=True, console=console) == 1  # nothing generated yet
    assert build_all(runs, out, check=False, console=console) == 0
    assert (out / "plots" / "digits_mnist_optdigits_tradeoff.png").stat().st_size > 1000
    assert build_all(runs, out, check=True, console=console) == 0
    page = out / "digits_mnist_optdigits.md"
    page.write_text(page.read_text() + "edited\n")
    assert build_all(runs, out, check=True, console=console) == 1
    assert build_all(runs, out, check=False, console=console) == 0
    bad = runs / "digits_mnist_optdigits" / "0000000000000000.json"
    bad.write_text('{"truncated": ')
    console = Console(record=True, width=200)
    assert build_all(runs, out, check=True, console=console) == 1
    assert bad.name in console.export_text()


def test_reported_rows_are_shown_and_marked(tmp_path):
    page = build_pages(tmp_path)[0]["gta5_cityscapes.md"]
    assert "## Reported by the papers (not reproduced here)" in page
    reported = pd.read_csv(REPORTED_DIR / "gta5_cityscapes.csv", dtype={"value": str})
    plca = reported[(reported.method == "PLCA") & (reported.metric == "miou")]["value"]
    assert plca.size and all(f" {v} " in page for v in plca.astype(str))
    assert "PLCA (Kang et al., NeurIPS 2020)" in page


def test_synthia_page_reports_16_and_13_class_means_not_19(tmp_path, make_record):
    proto = load_protocol("synthia_cityscapes")
    names = [f"c{i}" for i in range(19)]
    subsets = {"synthia16": {"miou": 40.0, "classes": []},
               "synthia13": {"miou": 46.0, "classes": []}}
    write_record(make_record(0, 30.0, name="synthia_cityscapes", protocol_hash=proto.hash,
                             method="plca", classes=names, task="segmentation",
                             subsets=subsets), tmp_path)
    page = build_pages(tmp_path)[0]["synthia_cityscapes.md"]
    header = next(line for line in page.splitlines() if line.startswith("| method"))
    assert "target mIoU synthia16" in header and "target mIoU synthia13" in header
    assert "target mIoU |" not in header
    assert "40.00" in page and "46.00" in page
