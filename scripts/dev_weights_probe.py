"""How DEV's importance weights behave on real checkpoints, and whether its settings matter.

A study behind the README's model-selection section, not part of a run:

    python scripts/dev_weights_probe.py run DIR -- --method cbst [other harness run options]
    python scripts/dev_weights_probe.py analyse DIR

``run`` is ``harness run`` (its record under ``DIR/records``) that also keeps, at every
evaluation point, what the ``dev`` validator scored (source-validation features and
losses, target features) in ``DIR/<run_id>.dev.npz``. ``analyse`` re-scores every kept
point under DEV variants (the validator's own settings first, checked to give the recorded
score bit for bit) and prints, per variant, the Spearman correlation of -DEV with target
accuracy within each run and over all points, the effective sample size of the weights,
(sum w)^2 / sum w^2: how many of the source-validation samples the estimate rests on, and
how many points the variant leaves without a score (its weights overflow; the validator
records those as none, and the correlations leave them out).
"""

import argparse
import json
import math
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from harness.evaluation.validators import dev

#: name -> (folds, domain classifier); folds 0: one classifier weights the very samples it
#: was fit on (skada's ``DeepEmbeddedValidation``, whose default classifier is a bare
#: ``LogisticRegression``: on unscaled features its 100 L-BFGS iterations stop short of
#: convergence, as they would in skada; the warnings are silenced).
VARIANTS = {
    "harness (3 folds, scaled, C=1)": (3, None),
    "L-BFGS to tol 1e-10": (3, dict(tol=1e-10, max_iter=100_000)),
    "C=0.1": (3, dict(C=0.1)),
    "C=0.01": (3, dict(C=0.01)),
    "C=0.001": (3, dict(C=0.001)),
    "in-sample, scaled": (0, None),
    "in-sample, unscaled (skada)": (0, "skada"),
}


def classifier(options):
    if options == "skada":
        return LogisticRegression()
    if options is None:
        return dev.DeepEmbeddedValidation().domain_classifier
    return make_pipeline(StandardScaler(), LogisticRegression(**{"max_iter": 1000, **options}))


def score(source: np.ndarray, target: np.ndarray, folds: int, clf, seed: int = 0):
    """DEV's risk and weights for one point's rows (source: features then the loss)."""
    features, losses = source[:, :-1], source[:, -1]
    if folds == 0:
        weights = dev.dev_weights(features, target, features, clf)
    else:
        weights = dev.cross_fitted_weights(features, target, clf, folds, seed)
    return dev.dev_risk(weights, losses), weights


def effective_size(weights: np.ndarray) -> float:
    if not np.isfinite(weights).all():
        return math.nan  # an overflowing weight: the estimate rests on nothing measurable
    return float(weights.sum() ** 2 / (weights ** 2).sum())


def run(directory: Path, harness_args: list[str]) -> int:
    from harness.cli import main as harness_main

    kept = []
    own_score = dev.DeepEmbeddedValidation.score

    def keeping_score(self):  # the validator's reservoirs as it scores them
        kept.append((self._source.rows.numpy().copy(), self._target.rows.numpy().copy()))
        return own_score(self)

    dev.DeepEmbeddedValidation.score = keeping_score
    # A records folder of its own: several probes may share DIR and run at once.
    (directory / "records").mkdir(exist_ok=True)
    records = Path(tempfile.mkdtemp(dir=directory / "records"))
    code = harness_main(["run", "--results-dir", str(records), *harness_args])
    if code == 0:
        (record,) = records.rglob("*.json")
        arrays = {f"{side}{i}": rows for i, pair in enumerate(kept)
                  for side, rows in zip(("source", "target"), pair)}
        np.savez(directory / f"{record.stem}.dev.npz",
                 record=str(record.relative_to(directory)), **arrays)
    return code


def points(directory: Path):
    """run name -> [(source rows, target rows, recorded DEV, target accuracy)] per point."""
    runs = {}
    for kept in sorted(directory.glob("*.dev.npz")):
        data = np.load(kept)
        record = json.loads((directory / str(data["record"])).read_text())
        evaluations = record["evaluations"]
        n_kept = sum(name.startswith("source") for name in data.files)
        if len(evaluations) != n_kept:
            raise SystemExit(f"{kept}: {n_kept} points kept, "
                             f"{len(evaluations)} in the record (a resumed run?)")
        name = f"{record['method']['name']} s{record['seed']}"
        runs[name] = [(data[f"source{i}"], data[f"target{i}"], p["validators"]["dev"],
                       p["target"]["pixel_acc"]) for i, p in enumerate(evaluations)]
    if not runs:
        raise SystemExit(f"{directory}: no *.dev.npz; make them with `run` first")
    return runs


def same_as_recorded(risk: float, recorded: float | None) -> bool:
    """The validator records no score (None) where the estimate is not finite."""
    return not math.isfinite(risk) if recorded is None else risk == recorded


def rho(accuracy: list[float], risks: list[float]) -> float:
    """Spearman of -DEV with target accuracy over the points DEV defines."""
    defined = np.isfinite(risks)
    return spearmanr(np.asarray(accuracy)[defined], -np.asarray(risks)[defined]).statistic


def analyse(directory: Path) -> pd.DataFrame:
    runs, rows = points(directory), []
    with dev.one_blas_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for variant, (folds, options) in VARIANTS.items():
            clf, row, pooled = classifier(options), {"variant": variant}, ([], [])
            for name, kept in runs.items():
                risks, sizes = [], []
                for source, target, recorded, _ in kept:
                    risk, weights = score(source, target, folds, clf)
                    if variant == next(iter(VARIANTS)) and not same_as_recorded(risk, recorded):
                        raise SystemExit(f"{name}: re-scored DEV {risk!r} != recorded "
                                         f"{recorded!r}: the validator is not the one recorded")
                    risks.append(risk)
                    sizes.append(effective_size(weights))
                accuracy = [p[3] for p in kept]
                row[f"{name} rho"] = rho(accuracy, risks)
                row[f"{name} n_eff"] = f"{np.nanmin(sizes):.1f}-{np.nanmax(sizes):.1f}"
                pooled[0].extend(accuracy)
                pooled[1].extend(risks)
            row["pooled rho"] = rho(*pooled)
            # Points whose weights overflow: DEV gives them no score.
            row["undefined"] = int((~np.isfinite(pooled[1])).sum())
            rows.append(row)
    return pd.DataFrame(rows).set_index("variant")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("verb", choices=("run", "analyse"))
    parser.add_argument("directory", type=Path)
    parser.add_argument("harness_args", nargs=argparse.REMAINDER,
                        help="after --: options of harness run")
    args = parser.parse_args(argv)
    if args.harness_args[:1] == ["--"]:
        args.harness_args = args.harness_args[1:]
    args.directory.mkdir(parents=True, exist_ok=True)
    if args.verb == "run":
        return run(args.directory, args.harness_args)
    with pd.option_context("display.width", 250, "display.max_columns", None,
                           "display.float_format", "{:+.2f}".format):
        print(analyse(args.directory).T)
    return 0


if __name__ == "__main__":
    sys.exit(main())
