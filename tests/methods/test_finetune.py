import pytest
import torch
from mmengine.registry import DefaultScope

from harness.registry import METHODS

PROTOCOL = "mnistm_simcam_rotation"
# LeNet's trainable layers, output first: head, fc 500, conv2 (harness/models/lenet.py).
LENET_LAST = ["head", "features.8", "features.3"]


@pytest.fixture
def build(build_method):
    return lambda method: build_method(PROTOCOL, method, "lenet")


def layer_of(name: str) -> str:
    return name.rsplit(".", 1)[0]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_finetune_lastk_trains_exactly_the_last_k_layers(k, build):
    model, wrapper = build(f"finetune_last{k}")
    trainable = {layer_of(n) for n, p in model.net.named_parameters() if p.requires_grad}
    assert trainable == set(LENET_LAST[:k])
    before = {n: p.detach().clone() for n, p in model.net.named_parameters()}
    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(2):
        data = {"target": {"inputs": torch.rand(16, 3, 28, 28, generator=g),
                           "label": torch.randint(0, 10, (16,), generator=g)}}
        model.train_step(data, wrapper)
    changed = {layer_of(n) for n, p in model.net.named_parameters()
               if not torch.equal(p, before[n])}
    assert changed == set(LENET_LAST[:k])


def test_vgg16_last_three_layers_are_fc6_fc7_fc8():
    with DefaultScope.overwrite_default_scope("harness"):
        model = METHODS.get("finetune_last3")(backbone={"type": "vgg16", "num_classes": 1000})
    trainable = [n for n, p in model.net.named_parameters() if p.requires_grad]
    # torchvision classifier.0 (fc6), classifier.3 (fc7), classifier.6 (fc8) = fc.0, fc.3, head.
    assert trainable == ["fc.0.weight", "fc.0.bias", "fc.3.weight", "fc.3.bias",
                         "head.weight", "head.bias"]
