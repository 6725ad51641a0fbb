"""Where methods that start from a source model get it: cache, or pretrained weights."""

import pytest
import torch

from harness.checkpoints import load_final
from harness.models.lenet import LeNet
from harness.plan import make_plan
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
