"""External predictions: exported and scored back, bad input listed, CSV classification."""

import json
import shutil

import numpy as np
import pytest
from mmengine.registry import DefaultScope
from PIL import Image

from harness.checkpoints import save_final
from harness.cli import main
from harness.config import compile_config
from harness.data.fixtures import write_fixtures
from harness.data.labelmaps import get_labelmap
from harness.data.loading import load_label
from harness.external import PredictionsError, external_record, target_loader
from harness.plan import make_plan
from harness.predictions import CSV_NAME, cityscapes_label_ids, predictions_sha256
from harness.record_samples import load_run_samples
from harness.registry import MODELS
from harness.results import load_record

PROTOCOL = "gta5_cityscapes"
#: Two Cityscapes val images of 64x32 (see tests/test_segmentation_protocols.py).
SMALL = ["train.workers=0", "eval.size=[64,32]", "eval.input_size=[64,32]",
         "source.options.subset=2", "target.options.subset=2"]
SETS = sum((["--set", s] for s in SMALL), [])


@pytest.fixture(scope="module")
def seg(tmp_path_factory):
    """Fixture data, a random DRN-26's weights, its exported predictions and its metrics."""
    root = tmp_path_factory.mktemp("external")
    for dataset in ("gta5", "cityscapes"):
        write_fixtures(dataset, root / "data")
    plan = make_plan(PROTOCOL, None, "drn_c26", 0, SMALL, data_root=root / "data", quiet=True)
    with DefaultScope.overwrite_default_scope("harness"):
        model = MODELS.build(dict(compile_config(plan).model))
    weights = save_final(model, root / "random.pth", {"method": "source_only"})
    args = ["--protocol", PROTOCOL, "--backbone", "drn_c26", "--data-root", str(root / "data"),
            "--work-dir", str(root / "w"), *SETS]
    assert main(["eval", *args, "--checkpoint", str(weights), "--export-predictions",
                 str(root / "pred"), "--out", str(root / "out.json")]) == 0
    return {"root": root, "args": args, "plan": plan, "weights": weights,
            "out": json.loads((root / "out.json").read_text())}


def _score(seg, predictions, results):
    return main(["eval", *seg["args"], "--predictions", str(predictions), "--method-name",
                 "theirs", "--citation", "Doe et al. 2030", "--results-dir", str(results)])


def test_exported_predictions_score_back_to_the_identical_confusion_matrix(seg, tmp_path):
    assert _score(seg, seg["root"] / "pred", tmp_path) == 0
    (path,) = (tmp_path / PROTOCOL).glob("*.json")
    record = load_record(path)
    confusion = np.array(record.metrics["target"].confusion)
    assert np.array_equal(confusion, np.array(seg["out"]["target"]["confusion"]))
    assert confusion.sum() == 2 * 64 * 32 - _void_pixels(seg)  # every labelled pixel, once
    files = sorted((seg["root"] / "pred").iterdir())
    assert record.external.predictions_sha256 == predictions_sha256(files)
    assert record.external.citation == "Doe et al. 2030" and record.method.name == "theirs"
    assert record.backbone is None and record.train is None and set(record.metrics) == {"target"}
    samples = load_run_samples(record, tmp_path)
    summed = np.zeros_like(confusion)
    np.add.at(summed, (samples.gt, samples.pred), samples.count)
    assert samples.n_images == 2 and np.array_equal(summed, confusion)


def _labels(seg):
    """The two target labels as trainIds, by file stem, read independently of the loader."""
    val = seg["root"] / "data" / "cityscapes" / "gtFine" / "val"
    labels = sorted(val.glob("*/*_gtFine_labelIds.png"))[:2]
    return {p.name.replace("_gtFine_labelIds.png", "_leftImg8bit"):
            load_label(str(p), get_labelmap("cityscapes")) for p in labels}


def _void_pixels(seg):
    return sum(int((label == 255).sum()) for label in _labels(seg).values())


def test_the_labels_themselves_score_100(seg, tmp_path):
    for stem, label in _labels(seg).items():  # 255 where the label is void: accepted
        Image.fromarray(label, mode="L").save(tmp_path / f"{stem}.png")
    record, _ = external_record(seg["plan"], tmp_path, "perfect", None)
    target = record.metrics["target"]
    assert target.miou == 100.0 and target.pixel_acc == 100.0
    assert all(v in (None, 100.0) for v in target.iou)


def test_cityscapes_format_is_the_label_maps_inverse():
    """--export-format cityscapes writes these labelIds: read back through the project's
    cityscapes label map, every trainId is itself again."""
    train_ids = np.arange(19, dtype=np.uint8)
    label_ids = cityscapes_label_ids()[train_ids]
    assert np.array_equal(get_labelmap("cityscapes").remap(label_ids), train_ids)
    assert label_ids.tolist()[:3] == [7, 8, 11]  # road, sidewalk, building


def _first(directory):
    return sorted(directory.glob("*.png"))[0]


def _rewrite(directory, make):
    path = _first(directory)
    ids = np.asarray(Image.open(path))
    make(ids).save(path)


BAD = {
    "missing": (lambda d: _first(d).unlink(), "missing: no prediction"),
    "extra": (lambda d: (d / "notes.txt").write_text("x"), "extra: not the prediction"),
    "misnamed": (lambda d: _first(d).rename(d / _first(d).name.replace("leftImg8bit", "left")),
                 "(misnamed"),
    "size": (lambda d: _rewrite(d, lambda a: Image.fromarray(a[:16, :32], mode="L")),
             "size 32x16, but its label is 64x32"),
    "bit depth": (lambda d: _rewrite(d, lambda a: Image.fromarray(a.astype(np.uint16))),
                  "bit depth: Pillow mode 'I;16'"),
    "colour": (lambda d: _rewrite(d, lambda a: Image.fromarray(np.dstack([a] * 3))),
               "colour mode: Pillow mode 'RGB'"),
    "ids": (lambda d: _rewrite(d, lambda a: Image.fromarray(np.full_like(a, 19), mode="L")),
            "ids 19 are not in the class list"),
    "255 on labels": (lambda d: _rewrite(d, lambda a: Image.fromarray(np.full_like(a, 255),
                                                                       mode="L")),
                      "predicted 255 (no class)"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_predictions_are_listed_and_nothing_is_scored(seg, tmp_path, capsys, case):
    predictions = shutil.copytree(seg["root"] / "pred", tmp_path / "pred")
    spoil, message = BAD[case]
    spoil(predictions)
    assert _score(seg, predictions, tmp_path / "records") == 1
    err = capsys.readouterr().err
    assert message in err and "nothing was scored" in err
    assert not (tmp_path / "records").exists()


def test_every_problem_is_reported_at_once(seg, tmp_path, capsys):
    predictions = shutil.copytree(seg["root"] / "pred", tmp_path / "pred")
    for case in ("missing", "colour", "extra"):  # three different files
        BAD[case][0](predictions)
    assert _score(seg, predictions, tmp_path / "records") == 1
    lines = capsys.readouterr().err.splitlines()  # not a terminal: one line per problem
    assert lines[0].endswith("3 problem(s) with the predictions; nothing was scored")
    assert len(lines) == 4 and all(line.startswith("error: target: ") for line in lines[1:])


@pytest.fixture(scope="module")
def digits():
    plan = make_plan("digits_mnist_optdigits", quiet=True)
    labels = np.concatenate([b["label"].numpy() for b in target_loader(plan)])
    return plan, labels


def _csv(path, rows):
    path.write_text("image_id,class\n" + "".join(f"{i},{c}\n" for i, c in rows))
    return path


def test_a_csv_is_scored_by_image_index(digits, tmp_path):
    plan, labels = digits
    preds = labels.copy()
    preds[:60] = (preds[:60] + 1) % 10  # 60 of 600 wrong: 90.00 %
    rows = sorted(enumerate(preds), key=lambda r: -r[0])  # any row order
    record, _ = external_record(plan, _csv(tmp_path / CSV_NAME, rows), "theirs", None)
    assert record.metrics["target"].pixel_acc == pytest.approx(90.0)
    assert record.external.format == "csv" and record.data["target_test"].n == 600


CSV_BAD = {
    "duplicate": (lambda rows: rows + [rows[3]], "duplicate image_id 3"),
    "unknown": (lambda rows: rows[:-1] + [(600, 1)], "unknown image_id 600"),
    "class": (lambda rows: [(0, 10)] + rows[1:], "class 10 is not in the class list"),
    "missing": (lambda rows: rows[:-2], "no prediction for 2 image(s): ids 598, 599"),
}


@pytest.mark.parametrize("case", CSV_BAD)
def test_a_bad_csv_is_refused(digits, tmp_path, case):
    plan, labels = digits
    spoil, message = CSV_BAD[case]
    path = _csv(tmp_path / CSV_NAME, spoil(list(enumerate(labels.tolist()))))
    with pytest.raises(PredictionsError) as info:
        external_record(plan, tmp_path, "theirs", None)
    assert any(message in p.problem for p in info.value.problems), info.value.problems
    assert path.exists() and len(list(tmp_path.iterdir())) == 1  # nothing written
