import copy

from mmengine.config import Config

from harness.config import compile_config
from harness.plan import make_plan


def test_the_runs_config_text_is_unformatted_python_that_loads_back(tmp_path):
    cfg = compile_config(make_plan("digits_mnist_optdigits", "source_only", None, 0, [],
                                   quiet=True))
    # The runner works on a deep copy, and the text follows changes of content (the run
    # adds hooks and resume settings before it writes the config).
    cfg = copy.deepcopy(cfg)
    cfg.custom_hooks.append({"type": "IterationClock"})
    cfg.resume = True
    text = cfg.pretty_text
    assert text != Config(cfg.to_dict()).pretty_text  # not yapf's layout: no formatter ran
    cfg.dump(tmp_path / "run.py")
    assert Config.fromfile(tmp_path / "run.py").to_dict() == cfg.to_dict()
