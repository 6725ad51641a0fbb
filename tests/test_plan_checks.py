"""Settings are checked when the run is planned, before any data is read: types, ranges,
finiteness, dataset options, and errors that say where the bad value came from."""

import json

import pytest

from harness.cli import main
from harness.method import HParamsError, build_hparams
from harness.plan import PlanError, make_plan
from harness.protocol import ProtocolError
from methods.cbst import CBST

DIGITS = "digits_mnist_optdigits"


def plan(method="calibrator", *sets):
    return make_plan(DIGITS, method, None, 0, list(sets))


@pytest.mark.parametrize("setting, message", [
    ("method.epsilon='abc'", r"epsilon = 'abc': Input should be a valid number"),
    ("method.epsilon=nan", r"epsilon = nan: Input should be a finite number"),
    ("method.width=2.5", r"width = 2.5: Input should be a valid integer"),
    ("method.width=0", r"width = 0: Input should be greater than 0"),
    ("method.lr=-1", r"lr = -1: Input should be greater than 0"),
    ("method.lr=true", r"lr = True: Input should be a valid number"),
])
def test_ill_typed_or_out_of_range_hparams_are_named(setting, message):
    with pytest.raises(HParamsError, match=message):
        plan("calibrator", setting)


def test_an_int_is_a_fine_float_and_arrays_become_tuples():
    assert plan("calibrator", "method.lr=1").hparams.lr == 1.0
    hp = build_hparams(CBST.HParams, {"prior_size": [64, 128], "portion_max": 1}, "cbst")
    assert hp.prior_size == (64, 128) and hp.portion_max == 1.0
    for bad in ({"portion_start": 0.0}, {"portion_max": 1.5}, {"rounds": 0},
                {"prior_size": [64, 0]}):
        with pytest.raises(HParamsError, match=next(iter(bad))):
            build_hparams(CBST.HParams, bad, "cbst")


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_non_finite_protocol_settings_are_rejected(value):
    with pytest.raises(ProtocolError, match=rf"--set train.lr={value}: Input should be a finite"):
        plan("source_only", f"train.lr={value}")


def test_set_errors_say_they_came_from_the_command_line():
    with pytest.raises(ProtocolError, match=r"1 problem\(s\) in the command line:\n"
                                            r"  - --set train.iters='abc'"):
        plan("source_only", "train.iters='abc'")


@pytest.mark.parametrize("key", ["source.options.splt_seed", "target.test_options.split_sed"])
def test_unknown_dataset_options_name_the_closest(key):
    with pytest.raises(PlanError, match=rf"{key}: unknown digits option .*Did you mean "
                                        r"'split_seed'"):
        plan("source_only", f"{key}=1")


def test_an_empty_method_or_backbone_is_not_the_default(capsys):
    assert main(["run", "--method", "", "--quiet"]) == 2
    assert "unknown method ''" in capsys.readouterr().err
    assert main(["run", "--backbone", "", "--quiet"]) == 2
    assert "unknown backbone ''" in capsys.readouterr().err


def test_fetch_says_when_there_is_nothing_to_fetch(tmp_path, capsys):
    assert main(["data", "fetch", "--protocol", DIGITS, "--data-root", str(tmp_path)]) == 0
    assert f"{DIGITS}: nothing to fetch" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


def test_plan_identity_is_plain_data():
    identity = plan("calibrator", "method.lr=1").identity
    assert json.loads(json.dumps(identity)) == identity and identity["hparams"]["lr"] == 1.0
