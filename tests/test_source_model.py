"""Where methods that start from a source model get it: cache, or pretrained weights."""

import pytest
import torch

from harness.checkpoints import load_final
from harness.models.lenet import LeNet
from harness.plan import make_plan
from harness.protocol import PROTOCOL_DIR
from harness.run import ensure_source_model


def test_pretrained_source_model_is_the_given_weights_untrained(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(3)
    weights = tmp_path / "lenet_rgb.pth"
    reference = LeNet(num_classes=10, in_channels=3)
    torch.save(reference.state_dict(), weights)
    plan = make_plan("mnistm_simcam_rotation", "adapternet", None, 0,
                     ["source_model=pretrained", f"model.init={weights}"])
    path = ensure_source_model(plan)
    assert path == plan.source_cache and path.is_file()
    holder = torch.nn.Module()
    holder.net = LeNet(num_classes=10, in_channels=3)
    load_final(holder, path, prefix="net.")
    for key, value in reference.state_dict().items():
        assert torch.equal(holder.net.state_dict()[key], value)


def test_pretrained_source_model_needs_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    plan = make_plan("mnistm_simcam_rotation", "adapternet", None, 0, ["source_model=pretrained"])
    with pytest.raises(ValueError, match="model.init=PATH"):
        ensure_source_model(plan)


def test_method_budget_does_not_change_the_source_model(tmp_path, monkeypatch):
    """A ``[methods.NAME] train`` table is the method's budget, not the source model's."""
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    plain = make_plan("digits_mnist_optdigits", "source_only", None, 0)
    proto_file = tmp_path / "digits_mnist_optdigits.toml"
    text = (PROTOCOL_DIR / "digits_mnist_optdigits.toml").read_text()
    proto_file.write_text(text + "\n[methods.st]\ntrain = { iters = 5000, lr = 1e-4 }\n")
    plan = make_plan(str(proto_file), "st", None, 0)
    assert plan.protocol.train.iters == 5000 and plan.protocol.train.lr == 1e-4
    assert plan.source_protocol.train == plain.protocol.train
    assert plan.source_cache == plain.source_cache
    source = plan.for_source_model()
    assert source.protocol.train.iters == plain.protocol.train.iters
    # The user's --set applies to the whole run, the source model included.
    quick = make_plan(str(proto_file), "st", None, 0, ["train.iters=7"])
    assert quick.protocol.train.iters == 7 and quick.source_protocol.train.iters == 7
    assert quick.source_cache != plain.source_cache
