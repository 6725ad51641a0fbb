"""``harness eval --predictions``: score predictions made by any codebase, as the harness
scores its own runs, and write a record marked ``external``.

Labels are read through the protocol's own target test loader (the same label maps,
subsets and resolution rule as a run), and the predictions go through the same
confusion metric. Every problem of the predictions is found before anything is kept:
one bad file means nothing is scored and no record is written.
"""

import difflib
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from harness.data.seg_base import Problem
from harness.errors import DataError, HarnessError
from harness.per_sample import PerImage
from harness.plan import PlanError, RunPlan
from harness.predictions import CSV_NAME, png_name, predictions_sha256, read_csv, read_png
from harness.record_samples import encode_for_record, write_run
from harness.results import RunRecord, finalize
from harness.utils import IGNORE_INDEX

#: A method name must work as a ``harness compare`` argument (no "/" or ",").
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
FIX_NAMES = "write one PNG per target test image, named <image file stem>.png"
FIX_CSV = f"write the predictions as {CSV_NAME} (header image_id,class)"


class PredictionsError(HarnessError, ValueError):
    """Predictions that cannot be scored; ``problems`` lists every one."""

    def __init__(self, where: Path, problems: list[Problem]):
        self.problems = problems
        super().__init__(f"{where}: {len(problems)} problem(s) with the predictions; nothing "
                         "was scored")


def target_loader(plan: RunPlan):
    """The protocol's target test loader, exactly as a run's evaluation builds it."""
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    from harness.config import compile_config

    with DefaultScope.overwrite_default_scope("harness"):
        return Runner.build_dataloader(compile_config(plan).val_dataloader)


def _listing(directory: Path, expected: list[str], fix: str
             ) -> tuple[dict[str, Path], list[Problem]]:
    """The files of ``directory`` by name; missing, extra and misnamed ones as problems."""
    if not directory.is_dir():
        raise PlanError(f"--predictions {directory}: not a folder of prediction files")
    files = {p.name: p for p in sorted(directory.iterdir())}
    wanted = set(expected)
    problems = [Problem(str(directory / name), "missing: no prediction for this test image",
                        fix) for name in expected if name not in files]
    for name, path in files.items():
        if name not in wanted:
            close = difflib.get_close_matches(name, expected, n=1, cutoff=0.6)
            hint = f" (misnamed {close[0]}?)" if close else ""
            problems.append(Problem(str(path), f"extra: not the prediction of any target test "
                                    f"image{hint}", f"remove it; {fix}"))
    return {n: p for n, p in files.items() if n in wanted}, problems


def _segmentation(plan: RunPlan, directory: Path, loader, metric) -> tuple[list[Path], list]:
    from harness.loops import check_label_size

    dataset = loader.dataset
    expected = [png_name(dataset.get_data_info(i)["img_path"]) for i in range(len(dataset))]
    if len(set(expected)) != len(expected):
        raise DataError(f"{plan.protocol.name}: target test images share file stems, so "
                        "predictions named by stem would be ambiguous")
    files, problems = _listing(directory, expected, FIX_NAMES)
    for batch in loader:
        check_label_size(batch, plan.protocol.eval.size)
        for img_path, label in zip(batch["meta"]["img_path"], batch["label"], strict=True):
            path = files.get(png_name(img_path))
            if path is None:
                continue
            ids, found = read_png(path, tuple(label.shape), len(plan.classes.names))
            if ids is not None:
                unscored = int(((ids == IGNORE_INDEX) & (label.numpy() != IGNORE_INDEX)).sum())
                if unscored:
                    ids = None
                    found.append(Problem(str(path), f"{unscored} labelled pixel(s) predicted "
                                         "255 (no class)", "predict a class for every pixel "
                                         "(255 is accepted only where the label is void)"))
            problems += found
            if not problems:
                # 255 is left only where the label is void, which is not counted.
                pred = torch.from_numpy(np.where(ids == IGNORE_INDEX, 0, ids).astype(np.int64))
                metric.process({}, [{"pred": pred[None], "gt": label[None],
                                     "source": str(path)}])
    return list(files.values()), problems


def _classification(plan: RunPlan, predictions: Path, loader, metric) -> tuple[list[Path], list]:
    path, problems = predictions, []
    if predictions.is_dir():
        path = predictions / CSV_NAME
        problems += _listing(predictions, [CSV_NAME], FIX_CSV)[1]
    labels = torch.cat([batch["label"].reshape(-1) for batch in loader])
    if path.is_file():
        preds, found = read_csv(path, len(labels), len(plan.classes.names))
        problems += found
        if not problems:
            metric.process({}, [{"pred": torch.from_numpy(preds), "gt": labels}])
    elif not problems:
        problems.append(Problem(str(path), "missing: no predictions file", FIX_CSV))
    return [path], problems


def score_predictions(plan: RunPlan, predictions: Path) -> tuple[dict, PerImage, str, object]:
    """Target metrics (as a record stores them), per-image counts, the predictions' sha256
    and the loader the labels came from; :class:`PredictionsError` lists every problem."""
    from harness.evaluation.metric import ConfusionMetric

    predictions = Path(predictions)
    loader = target_loader(plan)
    metric = ConfusionMetric(list(plan.classes.names), plan.subsets, prefix="target")
    score = _segmentation if plan.protocol.task == "segmentation" else _classification
    files, problems = score(plan, predictions, loader, metric)
    if problems:
        raise PredictionsError(predictions, problems)
    metric.evaluate(len(loader.dataset))
    metrics = {**metric.last_report, "confusion": metric.last_matrix.tolist(), "variants": {}}
    return metrics, metric.last_samples, predictions_sha256(files), loader


def external_record(plan: RunPlan, predictions: Path, method_name: str,
                    citation: str | None) -> tuple[RunRecord, bytes]:
    """The record of scored predictions (no training provenance) and its side file."""
    from harness.provenance import code_version, device_info, package_versions
    from harness.run import class_set, fingerprints, protocol_identity

    if not NAME_RE.fullmatch(method_name):
        raise PlanError(f"--method-name {method_name!r}: use letters, digits and _ . + - "
                        "(it names the row on the leaderboard and in harness compare)")
    metrics, samples, sha256, loader = score_predictions(plan, predictions)
    blob, samples_field = encode_for_record(samples)
    record = finalize({
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "external": {"predictions_sha256": sha256, "citation": citation,
                     "format": "png" if plan.protocol.task == "segmentation" else "csv"},
        "protocol": protocol_identity(plan),
        "method": {"name": method_name, "hparams": {}, "uses_target_labels": False,
                   "train_domains": [], "source_model": None},
        "backbone": None, "selection": None, "train": None,
        "seed": plan.seed,
        "code": code_version(), "packages": package_versions(),
        "device": device_info(1, "none"),
        "data": fingerprints({"target_test": loader}),
        "classes": class_set(plan),
        "metrics": {"target": metrics},
        "samples": samples_field,
    })
    return record, blob


def cmd_score_predictions(args, plan: RunPlan, console, errors) -> int:
    """``harness eval --predictions``: print every problem, or the metrics and the record."""
    from harness.data.check_protocol import print_problems
    from harness.summary import print_metrics

    if not args.method_name:
        raise PlanError("--predictions needs --method-name NAME: the row it gets on the "
                        "leaderboard")
    if args.export_predictions is not None:
        raise PlanError("--export-predictions exports a --checkpoint's predictions; drop it "
                        "when scoring --predictions")
    try:
        record, blob = external_record(plan, args.predictions, args.method_name, args.citation)
    except PredictionsError as exc:
        print_problems(str(exc), [("target", p) for p in exc.problems], errors)
        return 1
    path = write_run(record, args.results_dir, blob)
    print_metrics(plan.protocol, {"target": record.metrics["target"].model_dump()}, console)
    console.print(f"record: {path}  (run id {record.run_id}, external predictions of "
                  f"{record.method.name})", markup=False)
    return 0
