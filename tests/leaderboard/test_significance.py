"""Rank groups on the pages, and external predictions beside trained runs."""

import numpy as np

from harness.leaderboard import build_pages
from harness.leaderboard.significance import COLUMN, NO_DATA
from harness.per_sample import PerImage
from harness.protocol import load_protocol
from harness.record_samples import encode_for_record, write_run
from harness.results import finalize, write_record

DIGITS = load_protocol("digits_mnist_optdigits")
DIGIT_CLASSES = [str(i) for i in range(10)]

RNG = np.random.default_rng(0)
LABELS = RNG.integers(0, 10, 600)


def _preds(wrong: np.ndarray) -> np.ndarray:
    return np.where(wrong, (LABELS + 1) % 10, LABELS)


GOOD = _preds(np.arange(600) < 60)            # 90.0 %
CLOSE = _preds(np.arange(600) < 63)           # 89.5 %: 3 more errors, not significant
BAD = _preds(np.arange(600) < 240)            # 60.0 %


def _write(make_record, directory, method, preds, seeds=(0, 1), samples=True, **kw):
    acc = 100.0 * (preds == LABELS).mean()
    for seed in seeds:
        record = make_record(seed, acc, protocol_hash=DIGITS.hash, method=method,
                             classes=DIGIT_CLASSES, **kw)
        if not samples:
            write_record(record, directory)
            continue
        blob, field = encode_for_record(PerImage.from_predictions(LABELS, preds, 10))
        write_run(finalize({**record.model_dump(mode="json"), "samples": field}), directory,
                  blob)


def _table_rows(page: str) -> dict[str, list[str]]:
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in page.splitlines() if line.startswith("|")]
    header = rows[0]
    return {row[0]: dict(zip(header, row)) for row in rows[2:]}


def test_rows_are_marked_by_a_paired_test_against_the_best(tmp_path, make_record):
    _write(make_record, tmp_path, "good", GOOD)
    _write(make_record, tmp_path, "close", CLOSE)
    _write(make_record, tmp_path, "bad", BAD, seeds=(0, 1, 2))
    _write(make_record, tmp_path, "oracle", LABELS, seeds=(0,), uses_target_labels=True)
    pages, problems, _ = build_pages(tmp_path)
    page = pages["digits_mnist_optdigits.md"]
    rows = _table_rows(page)
    assert not problems
    assert {m: rows[m][COLUMN] for m in ("good", "close", "bad")} == {
        "good": "best", "close": "no", "bad": "yes"}
    assert next(r for m, r in rows.items() if m.startswith("oracle"))[COLUMN] == "-"
    assert "paired bootstrap test of each ranked row's target acc" in page
    assert "over the 600 target test images" in page


def test_a_run_without_per_image_counts_gives_no_column_but_says_so(tmp_path, make_record):
    _write(make_record, tmp_path, "good", GOOD)
    _write(make_record, tmp_path, "old", BAD, seeds=(0,), samples=False)
    page = build_pages(tmp_path)[0]["digits_mnist_optdigits.md"]
    assert NO_DATA in page and COLUMN not in page


def test_external_predictions_are_marked_and_have_no_source_cells(tmp_path, make_record):
    _write(make_record, tmp_path, "good", GOOD)
    trained = make_record(0, 99.0, protocol_hash=DIGITS.hash, method="theirs",
                          classes=DIGIT_CLASSES).model_dump(mode="json")
    blob, field = encode_for_record(PerImage.from_predictions(LABELS, LABELS, 10))
    external = finalize({
        **trained, "backbone": None, "selection": None, "train": None, "samples": field,
        "data": {"target_test": trained["data"]["target_test"]},
        "metrics": {"target": trained["metrics"]["target"]},
        "external": {"predictions_sha256": "0" * 64, "format": "csv", "citation": None}})
    write_run(external, tmp_path, blob)
    page = build_pages(tmp_path)[0]["digits_mnist_optdigits.md"]
    row = _table_rows(page)["theirs (external predictions)"]
    assert row["backbone"] == "-" and row["source acc"] == "-" and row["target acc"] == "99.00"
    assert row["selection"] == "external" and row[COLUMN] == "best"
    assert _table_rows(page)["good"][COLUMN] == "yes"
