"""Model selection: evaluation schedules, rule checks, and which evidence each rule reads."""

import pytest

from harness.protocol import ProtocolError, load_protocol
from harness.selection import eval_iters, picks

TASK, SUBSETS = "classification", ["all"]


def _point(i, target, source_val, entropy):
    return {"iter": i, "target": {"pixel_acc": target}, "source_val": {"pixel_acc": source_val},
            "validators": {"entropy": entropy}}


class _Unreadable(dict):
    """Target-test metrics that fail on any read: a rule that touches them fails."""

    def __getitem__(self, key):
        raise AssertionError(f"read target-test metric {key!r}")

    get = __getitem__


@pytest.mark.parametrize("sets, expected", [
    ({}, [1500]),
    ({"eval.points": 6}, [250, 500, 750, 1000, 1250, 1500]),
    ({"eval.interval": 400}, [400, 800, 1200, 1500]),
    ({"eval.points": 4, "train.iters": 10}, [2, 4, 6, 8, 10]),
])
def test_evaluation_points_follow_the_protocol(sets, expected):
    sets = {"eval.points": None, **sets} if "eval.points" not in sets else sets
    protocol = load_protocol("digits_mnist_optdigits", sets)
    assert eval_iters(protocol) == expected


def test_each_rule_picks_by_its_own_evidence():
    points = [_point(1, 50, 90, 0.9), _point(2, 80, 95, 0.2), _point(3, 70, 97, 0.5)]
    chosen = picks(points, ["last", "source_val", "entropy", "oracle"], TASK, SUBSETS,
                   {"entropy": False})
    assert chosen == {"last": 2, "source_val": 2, "entropy": 1, "oracle": 1}


def test_no_rule_but_oracle_reads_target_test_labels():
    """Target-test metrics replaced by garbage: every other rule's pick is unchanged."""
    points = [_point(1, 50, 90, 0.9), _point(2, 80, 95, 0.2), _point(3, 70, 97, 0.5)]
    rules = ["last", "source_val", "entropy"]
    clean = picks(points, rules, TASK, SUBSETS, {"entropy": False})
    for p in points:
        p["target"] = _Unreadable()
    assert picks(points, rules, TASK, SUBSETS, {"entropy": False}) == clean
    with pytest.raises(AssertionError, match="read target-test metric"):
        picks(points, ["oracle"], TASK, SUBSETS, {})
    garbage = [_point(p["iter"], v, 0, 0) for p, v in zip(points, [99, 1, 2])]
    assert picks(garbage, ["oracle"], TASK, SUBSETS, {}) == {"oracle": 0}


def test_a_point_a_validator_did_not_score_is_never_picked_by_it():
    # DEV undefined at the first point (None in the record): the best scored point wins,
    # in either direction; a validator that scored no point picks nothing.
    points = [_point(1, 50, 90, None), _point(2, 80, 95, 0.4), _point(3, 70, 97, 0.3)]
    assert picks(points, ["entropy"], TASK, SUBSETS, {"entropy": False}) == {"entropy": 2}
    assert picks(points, ["entropy"], TASK, SUBSETS, {"entropy": True}) == {"entropy": 1}
    unscored = [_point(i, 50, 90, None) for i in (1, 2)]
    assert picks(unscored, ["last", "entropy"], TASK, SUBSETS, {"entropy": False}) == {
        "last": 1, "entropy": None}


def test_segmentation_headline_is_the_declared_subset_never_all_of_19():
    point = {"iter": 1, "target": {"miou": 99.0, "subsets": {"synthia16": {"miou": 40.0}}}}
    other = {"iter": 2, "target": {"miou": 10.0, "subsets": {"synthia16": {"miou": 45.0}}}}
    assert picks([point, other], ["oracle"], "segmentation", ["synthia16", "synthia13"],
                 {}) == {"oracle": 1}


@pytest.mark.parametrize("sets, message", [
    ({"selection.rule": "entropi"}, "Did you mean 'entropy'"),
    ({"selection.rule": "source_val", "selection.source_val_fraction": None},
     "needs a source validation split"),
    ({"eval.points": 2000}, "more than train.iters"),
    ({"eval.points": None, "selection.rule": "oracle"}, "needs several evaluation points"),
])
def test_bad_selection_settings_are_clear_errors(sets, message):
    with pytest.raises(ProtocolError, match=message):
        load_protocol("digits_mnist_optdigits", sets)
