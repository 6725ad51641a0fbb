import copy

from mmengine.config import Config

from harness.config import RunConfig, compile_config
from harness.plan import make_plan


def test_the_cached_text_is_mmengines_and_follows_changes():
    cfg = compile_config(make_plan("digits_mnist_optdigits", "source_only", None, 0, [],
                                   quiet=True))
    assert isinstance(cfg, RunConfig)
    text = cfg.pretty_text
    assert text == Config(cfg.to_dict()).pretty_text
    # The runner works on a deep copy: same class, same text.
    clone = copy.deepcopy(cfg)
    assert isinstance(clone, RunConfig) and clone.pretty_text == text
    # A change of content (the run adds hooks, resume settings) is in the next text.
    cfg.custom_hooks.append({"type": "IterationClock"})
    cfg.resume = True
    changed = cfg.pretty_text
    assert "IterationClock" in changed and changed == Config(cfg.to_dict()).pretty_text
    assert "IterationClock" not in clone.pretty_text
