import json
import multiprocessing as mp

import pytest

from harness.results import RecordError, load_record, load_records, write_record


def test_run_id_is_the_content_hash(tmp_path, make_record):
    a, b = make_record(0), make_record(1)
    assert a.run_id != b.run_id and a.run_id == make_record(0).run_id
    path = write_record(a, tmp_path)
    assert path.name == f"{a.run_id}.json" and load_record(path) == a
    assert path.stat().st_mode & 0o777 == 0o644  # shareable, unlike mkstemp's default


@pytest.mark.parametrize("corrupt", [
    lambda text: text[: len(text) // 2],                   # truncated
    lambda text: "not json",                               # garbage
    lambda text: text.replace('"seed": 0', '"seed": 5'),   # edited after the run
    lambda text: text.replace('"seed"', '"sead"'),         # schema violation
])
def test_bad_records_are_named(tmp_path, corrupt, make_record):
    path = write_record(make_record(), tmp_path)
    path.write_text(corrupt(path.read_text()))
    with pytest.raises(RecordError, match=path.name):
        load_record(path)
    records, errors = load_records(tmp_path)
    assert records == [] and len(errors) == 1


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch, make_record):
    import harness.results as results

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(results.os, "replace", boom)
    with pytest.raises(OSError):
        write_record(make_record(), tmp_path)
    assert list(tmp_path.rglob("*")) == [tmp_path / "digits_mnist_optdigits"]


def test_concurrent_writers_lose_nothing(tmp_path, make_record):
    def write_many(start):
        for seed in range(start, start + 20):
            write_record(make_record(seed), tmp_path)

    procs = [mp.get_context("fork").Process(target=write_many, args=(20 * i,)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    records, errors = load_records(tmp_path)
    assert not errors and sorted(r.seed for r in records) == list(range(80))
    assert all(json.loads(p.read_text())["run_id"] == p.stem for p in tmp_path.rglob("*.json"))
