from scipy import stats

from harness.leaderboard import build_pages
from harness.leaderboard.aggregate import reproduced, split_runs
from harness.protocol import PROTOCOL_DIR, load_protocol
from harness.results import load_records, write_record

DIGITS = load_protocol("digits_mnist_optdigits")


def test_mean_and_standard_error_over_seeds(tmp_path, digits_runs):
    digits_runs(tmp_path)
    pages, problems, plots = build_pages(tmp_path)
    assert not problems
    page = pages["digits_mnist_optdigits.md"]
    accs = [70.0, 72.0, 77.0]
    assert f"{sum(accs) / 3:.2f} ± {stats.sem(accs):.2f}" in page
    assert "plots/digits_mnist_optdigits_tradeoff.png" in page and plots
    rows = reproduced(DIGITS, load_records(tmp_path)[0])
    assert list(rows.table["method"]) == ["source_only",
                                          "oracle (upper bound: trained on target labels)"]
    assert list(rows.table["seeds"]) == [3, 1]
    assert {"target acc", "source acc", "selection"} <= set(rows.table.columns)
    # The plot's points follow the table's rows, unformatted.
    assert [p[1] for p in rows.points] == [accs, [99.0]]


def test_a_target_label_user_is_not_ranked_even_when_best(tmp_path, make_record, digits_runs):
    digits_runs(tmp_path)
    write_record(make_record(0, 95.0, protocol_hash=DIGITS.hash, method="finetune",
                             uses_target_labels=True, classes=[str(i) for i in range(10)]),
                 tmp_path)
    table = reproduced(DIGITS, load_records(tmp_path)[0]).table
    assert list(table["method"]) == ["source_only", "oracle (upper bound: trained on target labels)",
                                     "finetune (uses target labels: not ranked)"]
    index = build_pages(tmp_path)[0]["README.md"]
    assert "source_only: target acc 73.00 ± 2.08" in index


def test_runs_of_another_protocol_version_are_excluded(tmp_path, make_record, digits_runs):
    digits_runs(tmp_path)
    write_record(make_record(5, 10.0, protocol_hash="other", method="source_only"), tmp_path)
    write_record(make_record(6, 11.0, protocol_hash=DIGITS.hash, method="source_only",
                             overrides={"train.iters": 3}), tmp_path)
    write_record(make_record(7, 12.0, protocol_hash=DIGITS.hash, method="st",
                             overrides={"model.init": "weights.pth"}), tmp_path)
    current, excluded = split_runs(DIGITS, load_records(tmp_path)[0])
    assert sorted(r.seed for r in excluded) == [5, 6]
    assert sorted(r.seed for r in current) == [0, 0, 1, 2, 7]
    page = build_pages(tmp_path)[0]["digits_mnist_optdigits.md"]
    assert "Excluded: 2 run(s)" in page and "10.00" not in page and "11.00" not in page
    assert "12.00" in page  # a local weights path does not change the benchmark


def test_a_methods_own_table_is_part_of_its_runs_identity(tmp_path, make_record):
    """[methods.NAME]: runs count while they match the table (budget and hparams)."""
    text = (PROTOCOL_DIR / "digits_mnist_optdigits.toml").read_text()
    path = tmp_path / "digits_mnist_optdigits.toml"
    path.write_text(text + "\n[methods.cbst]\nhparams = { portion_max = 0.4 }\n"
                    "train = { iters = 600 }\n")
    proto = load_protocol(str(path))
    budget = proto.for_method("cbst").hash
    runs = [make_record(0, 80.0, protocol_hash=proto.hash, method="source_only"),
            make_record(1, 81.0, protocol_hash=proto.hash, method="cbst",
                        effective_hash=budget, hparams={"portion_max": 0.4, "rounds": 3}),
            make_record(2, 82.0, protocol_hash=proto.hash, method="cbst",
                        hparams={"portion_max": 0.4}),  # the file's default budget: stale
            make_record(3, 83.0, protocol_hash=proto.hash, method="cbst",
                        effective_hash=budget, hparams={"portion_max": 0.5})]  # stale
    current, excluded = split_runs(proto, runs)
    assert [r.seed for r in current] == [0, 1] and [r.seed for r in excluded] == [2, 3]


def test_a_transplanted_generator_gets_its_own_row_and_is_no_override(tmp_path, make_record):
    # SUIT's transplant: --set method.generator=PATH, a weights file the record names.
    digits = [str(i) for i in range(10)]
    donor = {"generator": {"run_id": "0123456789abcdef", "method": "suit",
                           "backbone": "fcn8s_vgg16", "sha256": "0" * 64}}
    for seed, acc, loaded in ((0, 40.0, {}), (1, 45.0, donor)):
        write_record(make_record(seed, acc, as_written=DIGITS, method="suit",
                                 classes=digits, loaded_weights=loaded,
                                 overrides={"method.generator": "g.pth"} if loaded else {}),
                     tmp_path)
    # Any other method.* override still excludes a run, loaded weights or not.
    write_record(make_record(2, 50.0, as_written=DIGITS, method="suit", classes=digits,
                             loaded_weights=donor,
                             overrides={"method.generator": "g.pth", "method.width": 8}),
                 tmp_path)
    current, excluded = split_runs(DIGITS, load_records(tmp_path)[0])
    assert sorted(r.seed for r in current) == [0, 1] and [r.seed for r in excluded] == [2]
    rows = reproduced(DIGITS, current).table
    assert sorted(rows["method"]) == ["suit", "suit (generator from suit / fcn8s_vgg16)"]


def test_synthia_page_reports_16_and_13_class_means_not_19(tmp_path, make_record):
    name = "synthia_cityscapes"
    proto = load_protocol(name)
    classes = [f"c{i}" for i in range(19)]
    subsets = {"synthia16": classes[:16], "synthia13": classes[:13]}
    record = make_record(0, 30.0, name=name, protocol_hash=proto.hash, method="plca",
                         classes=classes, task="segmentation", subsets=subsets)
    write_record(record, tmp_path)
    page = build_pages(tmp_path)[0][f"{name}.md"]
    header = next(line for line in page.splitlines() if line.startswith("| method"))
    assert "target mIoU synthia16" in header and "target mIoU synthia13" in header
    assert "target mIoU |" not in header
    subset = record.metrics["target"].subsets
    assert f"{subset['synthia16']['miou']:.2f}" in page
    assert f"{subset['synthia13']['miou']:.2f}" in page


def test_rows_show_train_time_per_run_and_peak_memory(tmp_path, make_record):
    digits = [str(i) for i in range(10)]
    for seed, (wall, peak) in enumerate(((3600.0, 1024.0), (5400.0, 2048.0))):
        write_record(make_record(seed, 70.0, as_written=DIGITS, method="source_only",
                                 classes=digits, wall_time_s=wall, peak_rss_mib=peak), tmp_path)
    write_record(make_record(0, 60.0, as_written=DIGITS, method="st", classes=digits,
                             wall_time_s=36.0), tmp_path)  # an older record: no peak kept
    table = reproduced(DIGITS, load_records(tmp_path)[0]).table.set_index("method")
    # Mean of 1 h and 1.5 h on one CPU process; the larger of the two peaks.
    assert table.loc["source_only", "train time per run"] == "1.250 CPU-h"
    assert table.loc["source_only", "peak memory"] == "2.00 GiB RAM"
    assert table.loc["st", "train time per run"] == "0.010 CPU-h"
    assert table.loc["st", "peak memory"] == "-"
