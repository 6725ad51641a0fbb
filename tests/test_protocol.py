import tomllib

import pytest

from harness.names import UnknownNameError
from harness.protocol import (
    PROTOCOL_DIR,
    ProtocolError,
    apply_overrides,
    load_protocol,
    parse_value,
    protocol_names,
)

DEFAULT = PROTOCOL_DIR / "digits_mnist_optdigits.toml"


def write(tmp_path, text, name="digits_mnist_optdigits"):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def test_every_protocol_file_validates():
    names = protocol_names()
    assert "digits_mnist_optdigits" in names
    for name in names:
        assert load_protocol(name).name == name


def test_hash_ignores_comments_and_key_order_but_not_values(tmp_path):
    text = DEFAULT.read_text()
    reformatted = "# a new comment\n" + text.replace("iters = 1500", "iters    =   1500  # same")
    assert load_protocol(str(write(tmp_path, reformatted))).hash == load_protocol(str(DEFAULT)).hash
    changed = text.replace("iters = 1500", "iters = 1501")
    assert load_protocol(str(write(tmp_path, changed))).hash != load_protocol(str(DEFAULT)).hash


def test_missing_key_names_file_and_key(tmp_path):
    text = DEFAULT.read_text().replace('optimizer = "adam"\n', "")
    path = write(tmp_path, text)
    with pytest.raises(ProtocolError) as err:
        load_protocol(str(path))
    assert str(path) in str(err.value) and "train.optimizer" in str(err.value)
    assert "missing" in str(err.value)


def test_wrong_type_names_key_and_value(tmp_path):
    path = write(tmp_path, DEFAULT.read_text().replace("iters = 1500", 'iters = "many"'))
    with pytest.raises(ProtocolError, match=r"train\.iters = 'many'"):
        load_protocol(str(path))


def test_unknown_key_is_an_error(tmp_path):
    path = write(tmp_path, DEFAULT.read_text().replace("[train]\n", "[train]\nitters = 3\n"))
    with pytest.raises(ProtocolError, match=r"unknown key 'train\.itters'"):
        load_protocol(str(path))


def test_name_must_match_file(tmp_path):
    path = write(tmp_path, DEFAULT.read_text(), name="renamed")
    with pytest.raises(ProtocolError, match="renamed.toml"):
        load_protocol(str(path))


def test_unknown_protocol_suggests_closest():
    with pytest.raises(UnknownNameError, match="digits_mnist_optdigits"):
        load_protocol("digits_mnist_optdigit")


def test_overrides_are_typed_and_checked():
    p = load_protocol("digits_mnist_optdigits", {"train.iters": 7, "train.lr": 0.5})
    assert (p.train.iters, p.train.lr) == (7, 0.5)
    with pytest.raises(ProtocolError, match="Did you mean train.iters"):
        load_protocol("digits_mnist_optdigits", {"train.iter": 7})
    with pytest.raises(ProtocolError, match="train.iters"):
        load_protocol("digits_mnist_optdigits", {"train.iters": 0})


def test_parse_value_uses_toml_syntax():
    assert parse_value("2") == 2 and parse_value("1e-3") == 1e-3
    assert parse_value("true") is True and parse_value("[1, 2]") == [1, 2]
    assert parse_value("some/path.pth") == "some/path.pth"


def test_apply_overrides_does_not_mutate_input():
    data = tomllib.loads(DEFAULT.read_text())
    out = apply_overrides(data, {"train.iters": 3}, "x")
    assert out["train"]["iters"] == 3 and data["train"]["iters"] == 1500
