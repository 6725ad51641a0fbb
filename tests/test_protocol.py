import shutil
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
ROME = PROTOCOL_DIR / "cityscapes_nthu_rome.toml"

#: Every protocol's hash as computed before protocols could have a base: rewriting a file
#: over a base (or any other refactoring of the loader) must leave each one unchanged.
#: gta5_cityscapes changed once, when ``[methods.NAME]`` tables left the identity;
#: digits_mnist5k_usps and digits_mnist5k_mnistm when they gained evaluation points and
#: validators, the mnistm_simcam pair when they gained evaluation points.
PINNED_HASHES = {
    "cityscapes_nthu_rio": "d85aeed1f43716a37f42c48d6e554fb6d55921fd0a567bb57d1b0d29187be2e9",
    "cityscapes_nthu_rome": "7fd941e261fd9055ba624a1691a3f2f337776a57d7bf3c8e6c09eaf994b73d64",
    "cityscapes_nthu_taipei": "ee7e6a81eb56d629767433459d50117e31805a0ad578ce95cf55d78ad567dce0",
    "cityscapes_nthu_tokyo": "b8df4614ee01615942968dc6a2cfa328858e2d9ce1db053f42e89042e3fc8b19",
    "digits_mnist5k_mnistm": "f93d242ed29959ff7a32d0bdd78372435f6e1714d9c949305c1ba2be3ca794ed",
    "digits_mnist5k_usps": "dd1bc20f26c9ec7f431b661e06eb483664d330e9f69c4bd18ef54cc8b3b32fa3",
    "digits_mnist_mnistm": "bdb53ac90676c51399835e67b472433e6b56edda670c946eca87533058cf8d56",
    "digits_mnist_optdigits": "933b7d6b5a81b062fa210833b34d4837ed5c3ba8ad7d2a6a783182f5e2f5680e",
    "digits_mnist_usps": "6976c7ea4b980239ca61f4e7048eb48deda49427c4f0a7a6948c170f1953fac5",
    "digits_svhn_mnist": "a79f8df4d565e0d05264630b7e61b4d9111834a87b512042014d93766b9fcab5",
    "digits_usps_mnist": "b86117fe99268e73e2d194ec04ec822142bb806f96c7fb15b61ded00f636c77c",
    "gta5_bdd": "225b319702cfebc25676e1e505843bc32e6210ad18ef01d8d14828915429bc63",
    "gta5_cityscapes": "19d549627d35f3343e9bf092e9bee2bf740d9b2a46ff962b19a3fa06515f1c7e",
    "imagenet_simcam_power": "ac108ca8a98e1b0be0f5f939a4a5ebbf4adb8f5df98f754188be70928c6e98b6",
    "imagenet_simcam_rotation": "c9a049db1908c2556e28893461470daaed35c5a5cf58a9aefec904e7cb4b8468",
    "mnistm_simcam_power": "923190f6b03eb3b227aa0a9d166290eda3ef117cf3b0ddcf85bd4ddf3442f806",
    "mnistm_simcam_rotation": "a5fa670dbff500fe4597d6f5400373d2a4004dd73434f25b2529fd515061d517",
    "synthia_cityscapes": "9bdb7f87f897da1059d065a66bd0765734dc46b1f431f0576c65c91162d2dd4e",
}


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
    with pytest.raises(ProtocolError, match=r"--set train\.iter=7: .*Did you mean 'train\.iters'"):
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


def test_protocol_hashes_are_pinned():
    changed = {n: load_protocol(n).hash for n in PINNED_HASHES
               if load_protocol(n).hash != PINNED_HASHES[n]}
    assert not changed, f"protocol identity changed: {changed}"
    # The pins cover files written over a base, not only complete ones.
    assert tomllib.loads((PROTOCOL_DIR / "cityscapes_nthu_rio.toml").read_text())["base"] == \
        "cityscapes_nthu_rome"


def with_rome(tmp_path, **files):
    """``tmp_path`` holding the Rome protocol and ``files`` (name -> TOML text)."""
    shutil.copy(ROME, tmp_path / ROME.name)
    for name, text in files.items():
        write(tmp_path, text, name=name)
    return tmp_path


def test_base_merges_tables_and_replaces_values_and_lists(tmp_path):
    with_rome(tmp_path, milan='base = "cityscapes_nthu_rome"\nname = "milan"\n'
              '[target]\noptions = { city = "Milan", subset = 4 }\n'
              '[train]\niters = 8\n[reported]\ntasks = ["x"]\n')
    rome, milan = load_protocol(str(ROME)), load_protocol(str(tmp_path / "milan.toml"))
    assert milan.target.options == {"city": "Milan", "subset": 4}
    assert milan.target.dataset == rome.target.dataset == "nthu"
    assert (milan.train.iters, milan.train.crop) == (8, rome.train.crop)
    assert milan.reported.tasks == ["x"] and milan.reported.file == rome.reported.file
    assert milan.model_dump(exclude={"name", "target", "train", "reported"}) == \
        rome.model_dump(exclude={"name", "target", "train", "reported"})


def test_base_keeps_identity_and_chains(tmp_path):
    # rio written as a chain rio -> mid -> rome: same content, same hash as the file in protocols/.
    with_rome(tmp_path, mid='base = "cityscapes_nthu_rome"\nname = "mid"\n'
              '[target]\noptions = { city = "Rio" }\n',
              cityscapes_nthu_rio='base = "mid"\nname = "cityscapes_nthu_rio"\n'
              'description = "Cityscapes train (2,975) -> NTHU Rio test (100) at 2048x1024, '
              '13 classes, DeepLab-v2"\n[reported]\ntasks = ["cityscapes->rio"]\n')
    chained = load_protocol(str(tmp_path / "cityscapes_nthu_rio.toml"))
    assert chained.hash == PINNED_HASHES["cityscapes_nthu_rio"]


def test_name_is_not_inherited(tmp_path):
    with_rome(tmp_path, nameless='base = "cityscapes_nthu_rome"\n')
    with pytest.raises(ProtocolError, match="missing key 'name'"):
        load_protocol(str(tmp_path / "nameless.toml"))


def test_base_cycle_names_the_files(tmp_path):
    write(tmp_path, 'base = "b"\nname = "a"\n', name="a")
    write(tmp_path, 'base = "a"\nname = "b"\n', name="b")
    with pytest.raises(ProtocolError, match=r"cycle \(.*a\.toml -> .*b\.toml -> .*a\.toml\)"):
        load_protocol(str(tmp_path / "a.toml"))


def test_missing_base_names_the_file_and_the_closest_protocol(tmp_path):
    with_rome(tmp_path, x='base = "cityscapes_nthu_rom"\nname = "x"\n')
    with pytest.raises(ProtocolError) as err:
        load_protocol(str(tmp_path / "x.toml"))
    message = str(err.value)
    assert str(tmp_path / "x.toml") in message and "cityscapes_nthu_rom.toml does not exist" \
        in message and "Did you mean 'cityscapes_nthu_rome'" in message


@pytest.mark.parametrize("source,wrong,right", [(DEFAULT, "iou", "accuracy"),
                                                (ROME, "accuracy", "iou")])
def test_metric_must_match_the_task(tmp_path, source, wrong, right):
    text = source.read_text().replace(f'metric = "{right}"', f'metric = "{wrong}"')
    path = write(tmp_path, text, name=source.stem)
    task = load_protocol(str(source)).task
    with pytest.raises(ProtocolError, match=f"(?s){path}.*eval.metric = '{wrong}' but task = "
                       f"'{task}' reports '{right}': set eval.metric = '{right}'"):
        load_protocol(str(path))
    with pytest.raises(ProtocolError, match=f"eval.metric = '{wrong}'"):
        load_protocol(source.stem, {"eval.metric": wrong})


def test_a_method_table_is_that_methods_identity_not_the_files(tmp_path):
    """A budget for one method leaves the file's hash (every other method's runs) as is."""
    text = DEFAULT.read_text() + "\n[methods.st]\ntrain = { iters = 600 }\n"
    budgeted = load_protocol(str(write(tmp_path, text)))
    plain = load_protocol(str(DEFAULT))
    assert budgeted.hash == plain.hash
    assert budgeted.for_method("source_only") is budgeted
    as_run = budgeted.for_method("st")
    assert as_run.train.iters == 600 and as_run.hash != plain.hash
    assert as_run.hash == load_protocol(str(DEFAULT), {"train.iters": 600}).hash


#: A protocol file without [methods.*] tables, for tests that add their own.
PLAIN = PROTOCOL_DIR / "digits_mnist_usps.toml"
VARIANT_TABLES = """
[methods.suit]
hparams = { width = 16, blocks = 3 }
train = { iters = 600, batch = 64 }

[methods.suit_avgw]
extends = "suit"
hparams = { average_decay = 0.99 }
train = { batch = 32 }
"""
SPELLED_OUT = """
[methods.suit]
hparams = { width = 16, blocks = 3 }
train = { iters = 600, batch = 64 }

[methods.suit_avgw]
hparams = { width = 16, blocks = 3, average_decay = 0.99 }
train = { iters = 600, batch = 32 }
"""


def test_a_variant_table_extends_its_base_key_by_key(tmp_path):
    (tmp_path / "full").mkdir()
    proto = load_protocol(str(write(tmp_path, PLAIN.read_text() + VARIANT_TABLES, PLAIN.stem)))
    full = load_protocol(str(write(tmp_path / "full", PLAIN.read_text() + SPELLED_OUT,
                                   PLAIN.stem)))
    variant = proto.methods["suit_avgw"]
    assert variant.extends == "suit"
    assert variant.hparams == {"width": 16, "blocks": 3, "average_decay": 0.99}
    assert variant.train == {"iters": 600, "batch": 32}
    assert proto.methods["suit"].hparams == {"width": 16, "blocks": 3}
    # As the table written out in full: the variant's runs keep their identity.
    assert full.for_method("suit_avgw").hash == proto.for_method("suit_avgw").hash
    assert full.methods["suit_avgw"].hparams == variant.hparams
    # Dumped and validated again (as for_method does), the tables do not change.
    assert proto.for_method("suit_avgw").methods == proto.methods


@pytest.mark.parametrize("tables,expected", [
    ('[methods.suit]\ntrain = { iters = 10 }\n[methods.suit_avgw]\nextends = "siut"\n',
     "unknown [methods] table 'siut'. Did you mean 'suit'"),
    ('[methods.suit]\nextends = "suit_avgw"\n[methods.suit_avgw]\nextends = "suit"\n',
     "(suit -> suit_avgw -> suit)"),
])
def test_a_wrong_extends_names_the_key(tmp_path, tables, expected):
    with pytest.raises(ProtocolError) as err:
        load_protocol(str(write(tmp_path, PLAIN.read_text() + tables, PLAIN.stem)))
    assert "extends = " in str(err.value) and expected in str(err.value)
