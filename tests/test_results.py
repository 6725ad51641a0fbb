import json
import multiprocessing as mp

import pytest

from harness.results import RecordError, finalize, load_record, load_records, write_record


def make_record(seed=0, acc=50.0, name="digits_mnist_optdigits", protocol_hash="h", method="m"):
    dom = {"classes": ["a", "b"], "iou": [acc, None], "acc": [acc, None], "miou": acc,
           "mean_acc": acc, "pixel_acc": acc, "fwiou": acc, "missing": ["b"], "subsets": {},
           "n": 4, "confusion": [[2, 2], [0, 0]]}
    return finalize({
        "created": "2026-01-01T00:00:00+00:00",
        "protocol": {"name": name, "task": "classification", "hash": protocol_hash,
                     "overrides": {}, "variant_of": None, "target_labels": False},
        "method": {"name": method, "hparams": {}, "uses_target_labels": False,
                   "train_domains": ["source"]},
        "backbone": {"name": "lenet", "options": {}, "params": 1},
        "seed": seed, "code": {}, "packages": {}, "device": {}, "data": {}, "classes": {},
        "selection": {"rule": "last"}, "train": {"iters": 1},
        "metrics": {"target": dom, "source": dom},
    })


def test_run_id_is_the_content_hash(tmp_path):
    a, b = make_record(0), make_record(1)
    assert a.run_id != b.run_id and a.run_id == make_record(0).run_id
    path = write_record(a, tmp_path)
    assert path.name == f"{a.run_id}.json" and load_record(path) == a


@pytest.mark.parametrize("corrupt", [
    lambda text: text[: len(text) // 2],                   # truncated
    lambda text: "not json",                               # garbage
    lambda text: text.replace('"seed": 0', '"seed": 5'),   # edited after the run
    lambda text: text.replace('"seed"', '"sead"'),         # schema violation
])
def test_bad_records_are_named(tmp_path, corrupt):
    path = write_record(make_record(), tmp_path)
    path.write_text(corrupt(path.read_text()))
    with pytest.raises(RecordError, match=path.name):
        load_record(path)
    records, errors = load_records(tmp_path)
    assert records == [] and len(errors) == 1


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    import harness.results as results

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(results.os, "replace", boom)
    with pytest.raises(OSError):
        write_record(make_record(), tmp_path)
    assert list(tmp_path.rglob("*")) == [tmp_path / "digits_mnist_optdigits"]


def _write_many(args):
    directory, start = args
    for seed in range(start, start + 20):
        write_record(make_record(seed), directory)


def test_concurrent_writers_lose_nothing(tmp_path):
    with mp.get_context("fork").Pool(4) as pool:
        pool.map(_write_many, [(tmp_path, 20 * i) for i in range(4)])
    records, errors = load_records(tmp_path)
    assert not errors and sorted(r.seed for r in records) == list(range(80))
    assert all(json.loads(p.read_text())["run_id"] == p.stem for p in tmp_path.rglob("*.json"))
