import json
import multiprocessing as mp
from pathlib import Path

import pytest

from harness.results import (
    SCHEMA_VERSION,
    RecordError,
    content_id,
    load_record,
    load_records,
    migrate_v1,
    write_record,
)

#: Version-1 records as harness wrote them, kept here because the reference runs they
#: came from get re-run (results/runs/mnistm_simcam_power, results/runs/digits_mnist5k_usps):
#: one of the oldest (no effective hash, no source model field) and a CBST run that names
#: its source model, with "from" as a key.
V1 = Path(__file__).parent / "fixtures" / "records_v1"
OLD_V1 = V1 / "5c5880d18fceedf8.json"
CBST_V1 = V1 / "37c7fa857cf2ff6e.json"


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
    import harness.utils as utils

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(utils.os, "replace", boom)
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


@pytest.mark.parametrize("path", [OLD_V1, CBST_V1])
def test_committed_v1_records_migrate_without_loss(path):
    v1 = json.loads(path.read_text())
    assert v1["schema_version"] == 1 and content_id(v1) == v1["run_id"] == path.stem
    record = load_record(path)
    assert record == migrate_v1(v1)
    assert record.schema_version == SCHEMA_VERSION == 2 and record.run_id == path.stem
    migrated = record.model_dump(mode="json")
    added = {"protocol": {"effective_hash"},
             "method": {"source_model", "source_free", "loaded_weights"},
             "selection": {"picks"}}
    # Every v1 value survives unchanged; only fields v1 may lack are added.
    for key, value in v1.items():
        if key == "schema_version":
            continue
        if isinstance(value, dict) and key in added:
            assert {k: v for k, v in migrated[key].items() if k in value} == value
            assert set(migrated[key]) - set(value) <= added[key]
        elif key == "metrics":
            for domain, metrics in value.items():
                assert migrated[key][domain] == {"variants": {}, **metrics}
        else:
            assert migrated[key] == value, key
    if "effective_hash" not in v1["protocol"]:
        assert record.protocol.effective_hash == record.protocol.hash


def test_migrated_fields_read_as_v1_wrote_them():
    old, cbst = load_record(OLD_V1), load_record(CBST_V1)
    assert old.method.source_model is None and old.method.name == "adapternet"
    source = json.loads(CBST_V1.read_text())["method"]["source_model"]
    assert cbst.method.source_model.from_ == source["from"] == "source_only"
    assert cbst.method.source_model.run_id == source["run_id"]
    assert cbst.data["target_test"].n == json.loads(CBST_V1.read_text())["data"]["target_test"]["n"]


def test_migrated_record_is_not_rewritten_under_its_old_id(tmp_path):
    with pytest.raises(ValueError, match="finalize"):
        write_record(load_record(OLD_V1), tmp_path)


def test_v2_round_trip(tmp_path, make_record):
    record = make_record(3, 61.5)
    path = write_record(record, tmp_path)
    data = json.loads(path.read_text())
    assert data["schema_version"] == 2 and content_id(data) == record.run_id
    assert load_record(path) == record
    assert record.protocol.effective_hash == "h" and record.device.type == "cpu"


@pytest.mark.parametrize("version", [1, 2])
def test_edited_record_is_rejected(tmp_path, make_record, version):
    source = OLD_V1 if version == 1 else write_record(make_record(), tmp_path / "v2")
    data = json.loads(source.read_text())
    data["metrics"]["target"]["pixel_acc"] += 1.0
    path = tmp_path / "runs" / source.parent.name / source.name
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data))
    with pytest.raises(RecordError, match=f"{path.name}.*does not match its content"):
        load_record(path)


@pytest.mark.parametrize("metrics", [{}, "target", "source"])
def test_record_without_both_domains_is_invalid(tmp_path, make_record, metrics):
    for version, source in ((1, OLD_V1), (2, write_record(make_record(), tmp_path / "v2"))):
        data = json.loads(source.read_text())
        data["metrics"] = {} if metrics == {} else {
            k: v for k, v in data["metrics"].items() if k != metrics}
        data["run_id"] = content_id(data)  # a consistent id: the schema must catch it
        path = tmp_path / f"v{version}" / "p" / f"{data['run_id']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
        with pytest.raises(RecordError, match=f"{path.name}.*metrics"):
            load_record(path)


def test_unknown_schema_version_is_named(tmp_path, make_record):
    path = write_record(make_record(), tmp_path)
    path.write_text(path.read_text().replace('"schema_version": 2', '"schema_version": 9'))
    with pytest.raises(RecordError, match=f"{path.name}: schema_version 9"):
        load_record(path)


def test_record_without_both_evaluated_splits_is_invalid(tmp_path, make_record):
    data = json.loads(write_record(make_record(), tmp_path / "v2").read_text())
    del data["data"]["source_test"]
    data["run_id"] = content_id(data)
    path = tmp_path / "p" / f"{data['run_id']}.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data))
    with pytest.raises(RecordError, match=f"{path.name}.*first: data"):
        load_record(path)


@pytest.mark.parametrize("field, value", [("pixel_acc", 99.0), ("miou", 1.0),
                                          ("acc", [99.0, None])])
def test_edited_headline_metrics_are_caught_even_with_a_recomputed_id(tmp_path, make_record,
                                                                      field, value):
    path = write_record(make_record(acc=61.5), tmp_path)
    data = json.loads(path.read_text())
    data["metrics"]["source"][field] = value
    data["run_id"] = content_id(data)
    path.write_text(json.dumps(data))
    with pytest.raises(RecordError, match=rf"metrics\.source\.{field} = .* but its confusion "
                                          "matrix gives"):
        load_record(path)
