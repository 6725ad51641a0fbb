"""``harness compare`` on real runs: two tiny source_only and st runs of two seeds each."""

import json
import shutil

import numpy as np
import pytest

from harness.cli import main
from harness.record_samples import load_run_samples
from harness.results import load_records

PROTOCOL = "digits_mnist_optdigits"
#: Four iterations of batch 16, evaluated twice (a module-scoped fixture cannot take
#: conftest's tiny_sets).
TINY = ["train.iters=4", "train.batch=16", "train.checkpoint_interval=4",
        "train.log_interval=4", "eval.points=2"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Records (with side files) of source_only then st (which starts from the cached
    source_only model of its seed, two rounds), seeds 0 and 1."""
    root = tmp_path_factory.mktemp("compare")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_CACHE", str(root / "cache"))
        for method in ("source_only", "st"):
            for seed in (0, 1):
                assert main(["run", "--protocol", PROTOCOL, "--method", method, "--seed",
                             str(seed), "--work-dir", str(root / f"w-{method}-{seed}"),
                             "--results-dir", str(root / "runs"), "--quiet",
                             *sum((["--set", s] for s in TINY), []),
                             *(["--set", "method.rounds=2"] if method == "st" else [])]) == 0
    records, errors = load_records(root / "runs")
    assert not errors and len(records) == 4
    return root, {m: sorted((r for r in records if r.method.name == m), key=lambda r: r.seed)
                  for m in ("source_only", "st")}


def _ids(records):
    return ",".join(r.run_id for r in records)


def test_each_run_keeps_the_per_image_counts_of_its_metrics(runs):
    root, by_method = runs
    for record in by_method["st"] + by_method["source_only"]:
        samples = load_run_samples(record, root / "runs")
        summed = np.zeros((10, 10), dtype=np.int64)
        np.add.at(summed, (samples.gt, samples.pred), samples.count)
        assert samples.n_images == 600
        assert np.array_equal(summed, np.array(record.metrics["target"].confusion))


def test_compare_two_methods_by_run_ids(runs, capsys):
    root, by_method = runs
    st, so = by_method["st"], by_method["source_only"]
    assert main(["compare", "--protocol", PROTOCOL, _ids(st), _ids(so), "--runs",
                 str(root / "runs"), "--json", "--resamples", "2000"]) == 0
    (result,) = json.loads(capsys.readouterr().out)["comparisons"]
    # The point estimates are the seeds' mean accuracies the records report.
    mean = {m: np.mean([r.metrics["target"].pixel_acc for r in rs]) for m, rs in by_method.items()}
    assert result["value_a"] == pytest.approx(mean["st"])
    assert result["value_b"] == pytest.approx(mean["source_only"])
    assert result["delta"] == pytest.approx(mean["st"] - mean["source_only"])
    assert result["scheme"] == "paired seeds" and result["seeds_a"] == [0, 1]
    low, high = result["interval"]
    assert low <= result["delta"] <= high and 0 < result["p_value"] <= 1
    assert result["metric"] == "acc" and result["n_images"] == 600


def test_the_table_names_both_sides_and_the_test(runs, capsys):
    root, by_method = runs
    assert main(["compare", "--protocol", PROTOCOL, _ids(by_method["st"]),
                 _ids(by_method["source_only"]), "--runs", str(root / "runs"),
                 "--resamples", "500", "--per-class"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "paired bootstrap over 600 test images" in out and "IoU 9" in out


def test_method_names_select_only_runs_of_the_protocol_as_written(runs, capsys):
    root, by_method = runs
    assert main(["compare", "--protocol", PROTOCOL, "st", "source_only", "--runs",
                 str(root / "runs")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "none of the 2 run(s) of st is of digits_mnist_optdigits as it stands" in err
    assert all(r.run_id in err for r in by_method["st"])


def test_runs_without_per_image_counts_are_named_with_the_command_to_rerun(
        tmp_path, make_record, capsys):
    from harness.protocol import load_protocol
    from harness.results import write_record

    digits = load_protocol(PROTOCOL)
    for method in ("cbst", "source_only"):
        write_record(make_record(0, 80.0, protocol_hash=digits.hash, method=method,
                                 classes=[str(i) for i in range(10)]), tmp_path)
    assert main(["compare", "--protocol", PROTOCOL, "cbst", "source_only", "--runs",
                 str(tmp_path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "2 of the runs have no per-image counts" in err
    assert f"harness run --protocol {PROTOCOL} --method cbst --backbone lenet --seed 0" in err


def test_exported_classifications_score_back_to_the_same_matrix(runs, tmp_path, capsys):
    root, by_method = runs
    record = by_method["source_only"][0]
    weights = root / "w-source_only-0" / "model_final.pth"
    sets = sum((["--set", s] for s in TINY), [])
    assert main(["eval", "--protocol", PROTOCOL, "--checkpoint", str(weights),
                 "--export-predictions", str(tmp_path / "pred"), *sets]) == 0
    assert main(["eval", "--protocol", PROTOCOL, "--predictions", str(tmp_path / "pred"),
                 "--method-name", "exported", "--results-dir", str(tmp_path / "r"), *sets]) == 0
    (external,), _ = load_records(tmp_path / "r")
    assert external.metrics["target"].confusion == record.metrics["target"].confusion
    # Beside the run's own record, the external one compares as the same predictions.
    for path in (root / "runs" / PROTOCOL).glob(f"{record.run_id}.*"):
        shutil.copy(path, tmp_path / "r" / PROTOCOL)
    capsys.readouterr()  # the metric tables printed so far
    assert main(["compare", "--protocol", PROTOCOL, external.run_id, record.run_id, "--runs",
                 str(tmp_path / "r"), "--json", "--resamples", "200"]) == 0
    (result,) = json.loads(capsys.readouterr().out)["comparisons"]
    assert result["delta"] == 0 and result["p_value"] == 1.0


def test_a_method_name_leaves_out_runs_with_another_runs_weights(make_record):
    from harness.compare_cli import select_runs
    from harness.protocol import load_protocol

    digits = load_protocol(PROTOCOL)
    donor = {"generator": {"run_id": "r", "method": "suit", "backbone": "dtn", "sha256": "0"}}
    plain, transplant = (
        make_record(seed, 80.0, as_written=digits, method="suit",
                    classes=[str(i) for i in range(10)], loaded_weights=loaded,
                    overrides={"method.generator": "g.pth"} if loaded else {})
        for seed, loaded in ((0, {}), (1, donor)))
    assert select_runs([plain, transplant], digits, "suit") == [plain]
    assert select_runs([plain, transplant], digits, transplant.run_id) == [transplant]
