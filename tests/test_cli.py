import json
import subprocess
import sys

import pytest
from mmengine.config import Config

from harness import catalog
from harness.cli import main
from harness.config import compile_config
from harness.plan import make_plan


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("argv", [["--help"], ["list", "protocols"], ["list", "methods"],
                                  ["list", "backbones"]])
def test_fast_verbs_do_not_import_torch_or_mmseg(argv):
    code = ("from harness.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass")
    loaded = _modules_after(code)
    assert "torch" not in loaded and "mmseg" not in loaded and "mmengine" not in loaded


def test_catalog_agrees_with_live_registries():
    from harness.plan import backbone_names
    from harness.registry import METHODS

    METHODS.import_from_location()
    shipped = {n for n, c in METHODS.module_dict.items() if c.__module__.startswith("methods.")}
    assert catalog.method_names() == sorted(shipped)
    assert catalog.backbone_names() == backbone_names()
    assert {"source_only", "oracle"} <= set(catalog.method_names())


def test_catalog_traits_agree_with_the_live_classes():
    from harness.registry import METHODS

    METHODS.import_from_location()
    traits = catalog.method_traits()
    assert sorted(traits) == catalog.method_names()
    for name, declared in traits.items():
        cls = METHODS.get(name)
        assert declared == {t: getattr(cls, t) for t in catalog.TRAITS}, name


def test_list_methods_marks_source_free_and_label_users(capsys):
    assert main(["list", "methods"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert {"oracle", "source_only"} <= set(lines)
    assert "source-free" in lines["three_c_gan"] and "source-free" not in lines["cbst"]
    assert "uses target labels" in lines["oracle"]
    assert "uses target labels" not in lines["source_only"]


@pytest.mark.parametrize("argv, closest", [
    (["run", "--protocol", "digits_mnist_optdigit"], "digits_mnist_optdigits"),
    (["run", "--method", "source_onl"], "source_only"),
    (["run", "--backbone", "lenett"], "lenet"),
])
def test_unknown_names_exit_2_with_closest(argv, closest, capsys):
    assert main(argv + ["--dump-config"]) == 2
    err = capsys.readouterr().err
    assert "unknown" in err and closest in err


def test_unknown_set_key_is_an_error(capsys):
    assert main(["run", "--set", "train.itres=3", "--dump-config"]) == 2
    assert "train.iters" in capsys.readouterr().err


def test_unknown_method_hparam_is_an_error(capsys):
    assert main(["run", "--set", "method.lr=3", "--dump-config"]) == 2
    assert "no hyper-parameter 'lr'" in capsys.readouterr().err


def test_dump_config_reflects_protocol_and_overrides(capsys):
    assert main(["run", "--set", "train.iters=33", "--seed", "4", "--dump-config"]) == 0
    text = capsys.readouterr().out
    assert "max_iters=33" in text and "seed=4" in text
    assert "type='methods.source_only'" in text and "type='lenet'" in text
    assert "round_up=False" in text  # evaluation never pads (no double counting)


def test_dump_config_prints_the_text_formatted_for_reading(capsys):
    # Runs write their config unformatted (harness.config); the printed one is yapf's.
    assert main(["run", "--dump-config"]) == 0
    plan = make_plan("digits_mnist_optdigits", "source_only", None, 0, [], quiet=True)
    text = Config(compile_config(plan).to_dict()).pretty_text
    assert capsys.readouterr().out.strip() == text.strip()


def test_sync_bn_is_a_protocol_setting(capsys):
    assert main(["run", "--set", "train.sync_bn=true", "--dump-config"]) == 0
    assert "sync_bn = 'torch'" in capsys.readouterr().out
    assert main(["run", "--dump-config"]) == 0
    assert "sync_bn = None" in capsys.readouterr().out
