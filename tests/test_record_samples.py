import numpy as np
import pytest

from harness.per_sample import PerImage, SamplesError, samples_path
from harness.pictures import digests, picture_file
from harness.record_samples import copy_run, encode_for_record, load_run_samples, write_run
from harness.results import RecordError, finalize

PNG = b"\x89PNG\r\n\x1a\n not a real picture, but bytes with a hash"


def _run(make_record, directory, pictures=True):
    labels = np.arange(20) % 2
    samples = PerImage.from_predictions(labels, np.zeros(20, dtype=np.int64), 2)
    blob, field = encode_for_record(samples)
    record = finalize({**make_record().model_dump(mode="json"), "samples": field,
                       "pictures": digests({"samples": PNG}) if pictures else {}})
    path = write_run(record, directory, blob)
    if pictures:
        picture_file(path, "samples").write_bytes(PNG)
    return record, path, samples


def test_a_run_is_copied_with_its_per_image_counts_and_pictures(tmp_path, make_record):
    record, path, samples = _run(make_record, tmp_path / "job")
    assert copy_run(path, tmp_path / "runs")
    copied = tmp_path / "runs" / record.protocol.name / path.name
    assert copied.read_bytes() == path.read_bytes()
    assert picture_file(copied, "samples").read_bytes() == PNG
    again = load_run_samples(record, tmp_path / "runs")
    assert np.array_equal(again.gt, samples.gt) and np.array_equal(again.pred, samples.pred)
    # The same id again: nothing to copy (ids are content hashes).
    assert not copy_run(path, tmp_path / "runs")


@pytest.mark.parametrize("broken", ["samples", "picture"])
def test_a_run_missing_a_side_file_is_refused_and_nothing_is_copied(tmp_path, make_record,
                                                                     broken):
    record, path, _ = _run(make_record, tmp_path / "job")
    victim = samples_path(path) if broken == "samples" else picture_file(path, "samples")
    victim.unlink()
    with pytest.raises(SamplesError, match=victim.name):
        copy_run(path, tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_an_edited_record_is_refused(tmp_path, make_record):
    _, path, _ = _run(make_record, tmp_path / "job", pictures=False)
    path.write_text(path.read_text().replace('"seed": 0', '"seed": 7'))
    with pytest.raises(RecordError, match="does not match its content"):
        copy_run(path, tmp_path / "runs")
