"""Every validator on hand-computed cases and scipy references; streaming equals one-shot."""

import math

import numpy as np
import pytest
import torch
from scipy.linalg import svdvals
from scipy.stats import entropy as scipy_entropy
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_info, threadpool_limits

from harness.evaluation.validators import VALIDATORS, UndefinedScore, build_validator
from harness.evaluation.validators.dev import dev_risk, dev_weights, one_blas_thread
from harness.utils import IGNORE_INDEX


def _score(name, batches, **kwargs):
    validator = build_validator(name, **kwargs)
    for batch in batches:
        validator.update(batch)
    return validator.score()


def _probs(n, c, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(3 * torch.randn(n, c, generator=g, dtype=torch.float64), 1)


def test_every_validator_declares_its_contract():
    assert set(VALIDATORS) == {"entropy", "im", "bnm", "snd", "dev", "source_val"}
    lower = {name for name, cls in VALIDATORS.items() if not cls.higher_is_better}
    assert lower == {"entropy", "dev"}
    assert build_validator("dev").reads == {
        "source_features", "source_probs", "source_labels", "target_features"}
    assert build_validator("snd", space="features").reads == {"target_features"}


@pytest.mark.parametrize("classes", [2, 7])
def test_entropy_hand_cases(classes):
    uniform = {"target_probs": torch.full((5, classes), 1 / classes)}
    one_hot = {"target_probs": torch.eye(classes)}
    assert _score("entropy", [uniform]) == pytest.approx(math.log(classes))
    assert _score("entropy", [one_hot]) == 0.0


def test_im_hand_cases_and_scipy():
    c = 4
    # Confident and balanced: the maximum, log C. Uniform, or all one class: 0.
    assert _score("im", [{"target_probs": torch.eye(c)}]) == pytest.approx(math.log(c))
    assert _score("im", [{"target_probs": torch.full((6, c), 0.25)}]) == pytest.approx(0.0)
    assert _score("im", [{"target_probs": torch.eye(c)[[1, 1, 1]]}]) == 0.0
    probs = _probs(40, c, 0)
    ref = scipy_entropy(probs.mean(0).numpy()) - scipy_entropy(probs.numpy(), axis=1).mean()
    assert _score("im", [{"target_probs": probs}]) == pytest.approx(ref, rel=1e-12)


def test_bnm_hand_cases_and_scipy():
    c = 5
    # Identity: C unit singular values over N = C rows. N copies of one one-hot
    # row: one singular value sqrt(N).
    assert _score("bnm", [{"target_probs": torch.eye(c)}]) == pytest.approx(1.0)
    assert _score("bnm", [{"target_probs": torch.eye(c)[[2] * 9]}]) == pytest.approx(1 / 3)
    probs = _probs(70, c, 1)
    ref = svdvals(probs.numpy()).sum() / len(probs)  # pytorch-adapt's BNM, without the sign
    assert _score("bnm", [{"target_probs": probs}]) == pytest.approx(ref, rel=1e-10)


def test_snd_hand_case():
    # Identical samples: every neighbour is as close, a uniform softmax over N - 1.
    rows = torch.tensor([[0.2, 0.8]]).repeat(6, 1)
    assert _score("snd", [{"target_probs": rows}]) == pytest.approx(math.log(5))


def test_source_val_hand_case():
    matrix = torch.tensor([[3, 1], [0, 4]])  # rows: ground truth
    batch = {"source_confusion": matrix}
    assert _score("source_val", [batch, batch]) == pytest.approx(87.5)
    # IoU 3/4 and 4/5.
    assert _score("source_val", [batch], metric="miou") == pytest.approx(77.5)
    assert matrix.tolist() == [[3, 1], [0, 4]]  # the caller's matrix is not summed into


def _cut(batch, sizes):
    """``batch`` split into consecutive batches of the given sizes."""
    bounds = np.cumsum([0, *sizes])
    return [{k: v[a:b] for k, v in batch.items()} for a, b in zip(bounds[:-1], bounds[1:])]


def _dev_batch(n, seed):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (n,), generator=g)
    labels[::7] = IGNORE_INDEX
    return {"target_probs": _probs(n, 3, seed),
            "target_features": torch.randn(n, 4, generator=g, dtype=torch.float64) + 0.5,
            "source_features": torch.randn(n, 4, generator=g, dtype=torch.float64),
            "source_probs": _probs(n, 3, seed + 1), "source_labels": labels}


@pytest.mark.parametrize("name,kwargs", [
    ("entropy", {}), ("im", {}), ("bnm", {}),
    ("snd", {}), ("snd", {"space": "features"}), ("snd", {"max_samples": 16}),
    ("dev", {}), ("dev", {"max_samples": 24}),
])
def test_streaming_equals_one_shot(name, kwargs):
    # A bounded sample (max_samples below 50) is the same however the stream is cut.
    batch = _dev_batch(50, 3)
    one_shot = _score(name, [batch], **kwargs)
    assert _score(name, _cut(batch, [1, 13, 20, 16]), **kwargs) == pytest.approx(
        one_shot, rel=1e-12)


def test_dev_estimates_the_shifted_target_risk():
    # Source x ~ N(0, 1), target x ~ N(0.5, 1) on the first feature; the loss is x^2,
    # so the source risk is 1 and the target risk 1.25. A logistic domain classifier
    # is exact for this shift, and DEV should recover the target risk.
    g = torch.Generator().manual_seed(0)
    n = 4000
    source = torch.randn(n, 2, generator=g, dtype=torch.float64)
    target = torch.randn(n, 2, generator=g, dtype=torch.float64) + torch.tensor([0.5, 0.0])
    loss = source[:, 0] ** 2
    probs = torch.stack([torch.exp(-loss), 1 - torch.exp(-loss)], 1)  # CE of label 0 = loss
    batch = {"source_features": source, "target_features": target, "source_probs": probs,
             "source_labels": torch.zeros(n, dtype=torch.int64)}
    assert float(loss.mean()) == pytest.approx(1.0, abs=0.06)
    assert _score("dev", _cut(batch, [1000] * 4)) == pytest.approx(1.25, abs=0.1)


def test_one_blas_thread_limits_every_pool_threadpoolctl_finds_and_restores_them():
    # The limit is built from one scan of the loaded libraries, kept for the process; it
    # must still hold every pool a fresh scan finds (torch's OpenMP among them).
    before = {(p["filepath"], p["num_threads"]) for p in threadpool_info()}
    with one_blas_thread():
        assert {p["num_threads"] for p in threadpool_info()} == {1}
        with one_blas_thread():
            pass
        assert {p["num_threads"] for p in threadpool_info()} == {1}
    assert {(p["filepath"], p["num_threads"]) for p in threadpool_info()} == before


def test_dev_folds_fit_side_by_side_give_the_weights_of_one_after_another():
    # The score fits its folds in threads: each fold's weights land on its own rows, every
    # time, equal to a plain loop over the folds on one BLAS thread. 500-wide features make
    # the fits BLAS-bound.
    g = torch.Generator().manual_seed(5)
    n, width = 300, 500
    batch = {"source_features": torch.randn(n, width, generator=g, dtype=torch.float64),
             "target_features": torch.randn(2 * n, width, generator=g, dtype=torch.float64) + 0.2,
             "source_probs": _probs(n, 3, 6),
             "source_labels": torch.randint(0, 3, (n,), generator=g)}
    validator = build_validator("dev")
    features = batch["source_features"].numpy()
    losses = -batch["source_probs"].gather(1, batch["source_labels"][:, None]).log()[:, 0].numpy()
    weights = np.empty(n)
    with threadpool_limits(1):
        for fit, held in KFold(3, shuffle=True, random_state=0).split(features):
            weights[held] = dev_weights(features[fit], batch["target_features"].numpy(),
                                        features[held], validator.domain_classifier)
    expected = dev_risk(weights, losses)
    for _ in range(3):
        assert _score("dev", [batch]) == expected


def test_dev_whose_weights_overflow_has_no_score_and_says_why():
    # Source near +3, target near -3 on the first feature, and one source-validation
    # sample a million units deep on the target's side: held out, the domain classifier
    # gives it a source probability of exactly 0, an infinite weight. The paper's
    # estimate (and skada's) is then NaN or inf, a value no rule may pick.
    g = torch.Generator().manual_seed(0)
    source = torch.randn(30, 2, generator=g, dtype=torch.float64) + torch.tensor([3.0, 0.0])
    source[7, 0] = -1e6
    target = torch.randn(30, 2, generator=g, dtype=torch.float64) - torch.tensor([3.0, 0.0])
    batch = {"source_features": source, "target_features": target,
             "source_probs": _probs(30, 3, 1), "source_labels": torch.zeros(30, dtype=torch.int64)}
    with pytest.raises(UndefinedScore, match=r"weights overflow \(largest inf of 30"):
        _score("dev", [batch])
    source[7, 0] = 3.0  # the same samples without the outlier score
    assert math.isfinite(_score("dev", [batch]))
