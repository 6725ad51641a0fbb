"""The leaderboard's selection tables: every rule's pick and its gap to the oracle, how each
validator ranks checkpoints (against scipy and a weighted Pearson of numpy's), and seeds
where a class collapsed."""

import numpy as np
import pytest
from scipy.stats import rankdata, sem, spearmanr

from harness.leaderboard.selection_tables import (
    collapsed_seeds,
    rule_table,
    validator_table,
    weighted_spearman,
)
from harness.protocol import load_protocol

PROTOCOL = load_protocol("digits_mnist_optdigits")


def _run(make_record, seed, accs, dev, picks, method="m"):
    """A record with one evaluation point per target accuracy in ``accs`` (iterations
    1, 2, ...), DEV scores ``dev`` (None: unscored) and the given picks."""
    from harness.results import EvalPoint

    record = make_record(seed=seed, acc=accs[-1], method=method)
    points = [EvalPoint(iter=i + 1, target=make_record(acc=a).metrics["target"],
                        source=record.metrics["source"], validators={"dev": d})
              for i, (a, d) in enumerate(zip(accs, dev, strict=True))]
    selection = record.selection.model_copy(update={"picks": picks})
    return record.model_copy(update={"evaluations": points, "selection": selection})


def test_weighted_spearman_is_a_weighted_pearson_of_ranks():
    rng = np.random.default_rng(0)
    scores, target = rng.normal(size=40), rng.normal(size=40)
    # Unweighted (power 0) it is Spearman's rho.
    assert weighted_spearman(scores, target, power=0) == pytest.approx(
        spearmanr(scores, target).statistic, rel=1e-12)
    # Weighted: numpy's weighted covariance of the ranks, weights (score rank / N)^2.
    weights = (rankdata(scores, method="dense") / 40) ** 2
    c = np.cov(rankdata(scores), rankdata(target), aweights=weights)
    assert weighted_spearman(scores, target) == pytest.approx(
        c[0, 1] / np.sqrt(c[0, 0] * c[1, 1]), rel=1e-12)


def _mean_sem(values):
    return f"{np.mean(values):.2f} ± {sem(values):.2f}"


def test_every_rule_with_its_gap_and_seeds_a_validator_did_not_score(make_record):
    runs = [_run(make_record, 0, [60.0, 80.0, 70.0], [0.5, 0.2, 0.3],
                 {"last": 3, "dev": 2, "oracle": 2}),
            _run(make_record, 1, [65.0, 75.0, 72.0], [0.1, 0.2, 0.3],
                 {"last": 3, "dev": 1, "oracle": 2}),
            _run(make_record, 2, [50.0, 90.0, 85.0], [None, None, None],
                 {"last": 3, "dev": None, "oracle": 2})]
    row = rule_table(PROTOCOL, runs).iloc[0]
    assert row["seeds"] == 3
    assert row["last"] == _mean_sem([70, 72, 85])
    assert row["gap last"] == _mean_sem([10, 3, 5])
    assert row["oracle (oracle: target labels)"] == _mean_sem([80, 75, 90])
    # DEV picked in two seeds (80 and 65; gaps 0 and 10); the third is left out, said so.
    assert row["dev"] == "72.50 ± 7.50 (2 of 3 seeds)"
    assert row["gap dev"] == "5.00 ± 5.00 (2 of 3 seeds)"


def test_validator_ranks_only_the_points_it_scored(make_record):
    runs = [_run(make_record, 0, [60.0, 80.0, 70.0], [0.5, 0.2, 0.3], {}),
            _run(make_record, 1, [65.0, 75.0, 72.0, 71.0], [0.1, None, 0.3, 0.2], {})]
    row = validator_table(PROTOCOL, runs, {"dev": False}).iloc[0]
    scored = [(0.5, 60), (0.2, 80), (0.3, 70), (0.1, 65), (0.3, 72), (0.2, 71)]
    dev, acc = np.array(scored).T
    assert row["checkpoints"] == 6
    assert row["Spearman"] == f"{spearmanr(-dev, acc).statistic:.3f}"  # lower is better
    assert row["weighted Spearman"] == f"{weighted_spearman(-dev, acc):.3f}"


def test_a_class_near_zero_in_one_seed_only_is_flagged(make_record):
    # make_record puts every sample in the first class: 'a' scores acc, 'b' None.
    runs = [make_record(seed=0, acc=0.5), make_record(seed=1, acc=60.0),
            make_record(seed=2, acc=70.0), make_record(seed=0, acc=0.2, method="other")]
    assert collapsed_seeds(PROTOCOL, runs) == [
        "m / lenet seed 0: a at 0.5 (other seeds median 65.0)"]
