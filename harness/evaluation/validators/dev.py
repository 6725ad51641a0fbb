"""Deep embedded validation (You et al., ICML 2019): the estimated target risk, lower is better."""

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import ThreadpoolController

from harness.evaluation.validators.base import (
    UndefinedScore,
    Validator,
    probabilities,
    register,
)
from harness.evaluation.validators.sampling import Reservoir
from harness.utils import IGNORE_INDEX

#: Probabilities are clipped here before the log, as skada's cross-entropy does.
EPS = 1e-15


@functools.cache
def _thread_pools() -> ThreadpoolController:
    """The process's BLAS and OpenMP pools, found once.

    ``threadpool_limits`` scans the loaded libraries on every call: 5-20 ms, and a score
    takes the limit four times (about a quarter of a digits DEV score). The fit's libraries
    (numpy, scipy, scikit-learn, imported above) are loaded before the first score, so
    one scan finds them.
    """
    return ThreadpoolController()


def one_blas_thread():
    """A context in which every BLAS and OpenMP pool of the process runs one thread."""
    return _thread_pools().limit(limits=1)


def dev_weights(fit_source: np.ndarray, target: np.ndarray, eval_source: np.ndarray,
                classifier) -> np.ndarray:
    """Importance weights p_target(x) / p_source(x) of the ``eval_source`` rows.

    A domain classifier fit on ``fit_source`` (label 1) against ``target``
    (label 0) gives P(target | x) / P(source | x); times n_source / n_target
    (the fit's class sizes) that is the density ratio (Bayes' rule), as in the
    authors' code and skada. A row the classifier gives zero source probability gets an
    infinite weight (the validator reports that its score is undefined).
    """
    # A fit on a few thousand rows: BLAS threads only contend with the evaluation's own
    # (ten times slower on 2 busy cores); one thread gives the same weights.
    with one_blas_thread():
        classifier = clone(classifier).fit(
            np.concatenate([fit_source, target]),
            np.r_[np.ones(len(fit_source)), np.zeros(len(target))],
        )
        p_target, p_source = classifier.predict_proba(eval_source).T  # classes_ sorted: 0, 1
    with np.errstate(divide="ignore"):
        return p_target / p_source * len(fit_source) / len(target)


def cross_fitted_weights(features: np.ndarray, target: np.ndarray, classifier, folds: int,
                         seed: int, workers: int = 1) -> np.ndarray:
    """Importance weights of every ``features`` row, each never from a classifier fit on it.

    The rows are cut into ``folds`` (seeded); each fold is weighted by a classifier fit on
    the other folds against all ``target`` rows. The folds' fits are independent: side by
    side on ``workers`` threads. The one-thread BLAS limit is taken here, before the threads
    start: threadpoolctl's limit is process-wide, and a fit that ended first would lift it
    under the others (more BLAS threads give other weights).
    """
    splits = list(KFold(folds, shuffle=True, random_state=seed).split(features))

    def fold_weights(split):
        fit, held = split
        return dev_weights(features[fit], target, features[held], classifier)

    weights = np.empty(len(features))
    with one_blas_thread(), ThreadPoolExecutor(workers) as pool:
        for (_, held), part in zip(splits, pool.map(fold_weights, splits), strict=True):
            weights[held] = part
    return weights


def dev_risk(weights: np.ndarray, losses: np.ndarray) -> float:
    """DEV's control-variate estimate of the target risk from weighted source losses.

    mean(w l) + eta mean(w) - eta with eta = -Cov(w l, w) / Var(w): the weights
    have expectation 1, so the correction removes variance, not bias. Constant
    weights (no shift detected) give eta = 0, as in skada. An infinite weight makes the
    estimate inf or NaN (without a warning: the caller checks).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        weighted = weights * losses
        var = np.var(weights, ddof=1)
        eta = 0.0 if var == 0 else -np.cov(weighted, weights)[0, 1] / var
        return float(np.mean(weighted) + eta * np.mean(weights) - eta)


@register
class DeepEmbeddedValidation(Validator):
    """DEV risk of the source-validation cross-entropy, weighted toward the target.

    The paper fits the domain classifier on source-training features and
    weights the source-validation ones; here only source-validation features
    are at hand, so the weights are cross-fitted: the source samples are cut
    into ``folds`` (seeded), and each fold is weighted by a classifier fit on
    the other folds against all target samples, never on itself. Each domain
    keeps a seeded reservoir of at most ``max_samples`` samples.
    """

    name = "dev"
    higher_is_better = False
    reads = frozenset({"source_features", "source_probs", "source_labels", "target_features"})

    def __init__(self, max_samples: int = 4096, folds: int = 3, seed: int = 0,
                 domain_classifier=None):
        if folds < 2:
            raise ValueError(f"dev folds must be >= 2, got {folds}")
        self.folds, self.seed = folds, seed
        # Scaled features and a bounded number of iterations keep the fit fast and convergent.
        if domain_classifier is None:
            domain_classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        self.domain_classifier = domain_classifier
        self._source = Reservoir(max_samples, seed)  # rows: features, then the loss
        self._target = Reservoir(max_samples, seed + 1)

    def update(self, batch) -> None:
        """A source-validation batch, a target batch, or both in one: each side is kept
        (evaluation reads the two splits one after the other)."""
        if not batch.keys() & self.reads:
            raise KeyError(f"validator 'dev' reads {sorted(self.reads)}, none in the batch")
        if "target_features" in batch:
            self._target.add(batch["target_features"].detach().flatten(1))
        if not batch.keys() & (self.reads - {"target_features"}):
            return
        inputs = self._inputs(batch, self.reads - {"target_features"})
        probs = probabilities(inputs["source_probs"], "source_probs")
        labels = inputs["source_labels"].to(probs.device, torch.int64)
        keep = labels != IGNORE_INDEX
        if (labels[keep] < 0).any() or (labels[keep] >= probs.shape[1]).any():
            raise ValueError(f"source_labels outside 0..{probs.shape[1] - 1} "
                             f"and not the ignore id {IGNORE_INDEX}")
        picked = probs[keep].gather(1, labels[keep][:, None]).clamp(EPS, 1 - EPS)
        features = inputs["source_features"].to(probs.device).flatten(1)[keep]
        self._source.add(torch.cat([features.double(), -picked.log()], dim=1))

    def all_reduce(self) -> None:
        self._source.all_gather()
        self._target.all_gather()

    def score(self) -> float:
        source, target = self._source.rows, self._target.rows
        if source is None or target is None or len(source) < self.folds or not len(target):
            raise ValueError(f"validator 'dev' needs at least {self.folds} labelled source "
                             "samples and one target sample")
        features, losses = source[:, :-1].numpy(), source[:, -1].numpy()
        weights = cross_fitted_weights(features, target.numpy(), self.domain_classifier,
                                       self.folds, self.seed,
                                       workers=min(self.folds, os.cpu_count() or 1))
        risk = dev_risk(weights, losses)
        if not math.isfinite(risk):
            # The estimate of the paper and of skada is then inf or NaN: never a score
            # a rule could pick (a NaN compares false with everything).
            raise UndefinedScore(
                f"the importance weights overflow (largest {weights.max():.3g} of "
                f"{len(weights)} source-validation samples): the domain classifier gives a "
                "source-validation sample almost no probability of being source")
        return risk
