import pytest

from harness.errors import HarnessError
from harness.names import UnknownNameError, check_name


def test_known_name_is_returned():
    assert check_name("method", "plca", ["plca", "cbst"]) == "plca"


def test_unknown_name_lists_closest_and_known():
    with pytest.raises(UnknownNameError) as err:
        check_name("method", "plc", ["plca", "cbst"])
    assert str(err.value) == "unknown method 'plc'. Did you mean 'plca'? Known methods: cbst, plca."


def test_prefix_and_error_class():
    class ConfigError(HarnessError, ValueError):
        pass

    with pytest.raises(ConfigError) as err:
        check_name("setting", "train.iter", ["train.iters", "eval.size"],
                   prefix="--set train.iter=3: p.toml", error=ConfigError)
    assert str(err.value).startswith(
        "--set train.iter=3: p.toml: unknown setting 'train.iter'. Did you mean 'train.iters'?")
