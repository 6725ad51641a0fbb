"""Entropy, SND and DEV against skada's scorers on the same inputs.

skada scores an estimator on data; a stand-in estimator whose
``predict_proba`` returns its input feeds it our probabilities (or features)
unchanged.
"""

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from harness.evaluation.validators import build_validator
from harness.evaluation.validators.dev import EPS, dev_risk, dev_weights

metrics = pytest.importorskip(
    "skada.metrics", reason="skada, the reference implementation, is not installed "
    "(pip install skada, or pip install -e .[test])")
make_da_pipeline = pytest.importorskip("skada").make_da_pipeline


class Passthrough(BaseEstimator):
    """``predict_proba`` returns columns ``start:`` of the input."""

    def __init__(self, start=0):
        self.start = start

    def fit(self, X, y=None, **kwargs):
        return self

    def __sklearn_is_fitted__(self):
        return True

    def predict_proba(self, X, **kwargs):
        return np.asarray(X)[:, self.start:]

    def predict_log_proba(self, X, **kwargs):  # exact logs: skada would add 1e-7
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))


def _target_only(rows):
    """skada's data layout: a dummy source sample (domain 1), then the target (domain -1)."""
    X = np.concatenate([rows[:1], rows])
    return X, np.r_[0, -np.ones(len(rows), int)], np.r_[1, -np.ones(len(rows), int)]


def _score(name, batch, **kwargs):
    validator = build_validator(name, **kwargs)
    validator.update(batch)
    return validator.score()


def _probs(n, c, seed, concentration=0.5):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(c, concentration), size=n)
    probs[0] = np.eye(c)[0]  # a one-hot row: 0 log 0 must count as 0
    return probs


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # skada's 0 * -inf
@pytest.mark.parametrize("seed", [0, 1])
def test_entropy_matches_skada(seed):
    probs = _probs(50, 6, seed)
    ref = metrics.PredictionEntropyScorer()(Passthrough(), *_target_only(probs)[:2],
                                           sample_domain=_target_only(probs)[2])
    # skada takes the mean over all N x C terms of -p log p (so divides by C too) and
    # negates it (greater_is_better=False): ours = -ref * C.
    assert _score("entropy", {"target_probs": torch.from_numpy(probs)}) == pytest.approx(
        -ref * probs.shape[1], rel=1e-12)


@pytest.mark.parametrize("space", ["probs", "features"])
def test_snd_matches_skada(space):
    rng = np.random.default_rng(2)
    rows = _probs(60, 5, 2) if space == "probs" else rng.normal(size=(60, 8))
    X, y, domain = _target_only(rows)
    ref = metrics.SoftNeighborhoodDensity(T=0.05)(Passthrough(), X, y, sample_domain=domain)
    # skada keeps the self-similarity, negated (weight ~exp(-40) relative to a
    # neighbour); we drop it. Same score to well under 1e-9.
    ours = _score("snd", {f"target_{space}": torch.from_numpy(rows)}, space=space)
    assert ours == pytest.approx(ref, rel=1e-9)


def _cross_entropy_column(y, probs):
    """Per-sample cross-entropy as a column: skada multiplies its [n, 1] weights by
    the loss, and its default [n] loss broadcasts that to an [n, n] matrix (skada
    0.6.0), which is not DEV; an [n, 1] loss gives the paper's estimate."""
    return -np.log(np.clip(probs[np.arange(len(y)), y], EPS, 1 - EPS))[:, None]


@pytest.mark.parametrize("seed", [0, 1])
def test_dev_weights_and_risk_match_skada(seed):
    rng = np.random.default_rng(seed)
    ns, nt, dim, classes = 60, 50, 3, 4
    source = np.c_[rng.normal(size=(ns, dim)), rng.dirichlet(np.ones(classes), size=ns)]
    target = np.c_[rng.normal(0.7, 1.0, size=(nt, dim)), rng.dirichlet(np.ones(classes), size=nt)]
    labels = rng.integers(0, classes, ns)
    X, y = np.r_[source, target], np.r_[labels, -np.ones(nt, int)]
    domain = np.r_[np.ones(ns, int), -np.ones(nt, int)]
    # The pipeline has no transform step, so skada's features are the rows themselves.
    estimator = make_da_pipeline(Passthrough(start=dim)).fit(X, y, sample_domain=domain)
    classifier = LogisticRegression()
    ref = metrics.DeepEmbeddedValidation(
        domain_classifier=classifier, loss_func=_cross_entropy_column, random_state=seed
    )(estimator, X, y, sample_domain=domain)
    # skada fits the domain classifier on 67% of the source and weights the other 33%.
    fit, held = train_test_split(np.arange(ns), test_size=0.33, random_state=seed)
    weights = dev_weights(source[fit], target, source[held], classifier)
    losses = _cross_entropy_column(labels[held], source[held, dim:])[:, 0]
    assert -dev_risk(weights, losses) == pytest.approx(ref, rel=1e-9)  # skada negates a loss
