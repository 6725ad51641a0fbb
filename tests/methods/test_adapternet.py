import pytest
import torch

from methods.adapternet import identity_adapter

PROTOCOL = "mnistm_simcam_rotation"  # RGB LeNet: the adapter has the paper's 3 channels


@pytest.fixture
def build(build_method):
    return lambda method="adapternet", sets=(): build_method(PROTOCOL, method, "lenet", sets)


def batch(n: int = 16, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"target": {"inputs": torch.rand(n, 3, 28, 28, generator=g),
                       "label": torch.randint(0, 10, (n,), generator=g)}}


def test_untrained_adapter_is_exactly_the_identity_on_unit_inputs(build):
    model, _ = build()
    x = torch.rand(4, 3, 28, 28)
    x[0, 0, :2] = 0.0  # the ReLU edge
    x[0, 1, :2] = 1.0
    assert torch.equal(model.adapter(x), x)
    model.eval()
    assert torch.equal(model.logits(x), model.net(model.normalize(x)))


def test_adapter_has_the_papers_five_1x1_layers_of_3_channels(build):
    model, _ = build()
    convs = [m for m in model.adapter if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 5  # seed 003 §5.1
    assert all(c.weight.shape == (3, 3, 1, 1) for c in convs)
    assert sum(p.numel() for p in model.adapter.parameters()) == 5 * (9 + 3)


def test_adapter_computes_relu_of_affine_channel_mixing():
    adapter = identity_adapter(3, 2)
    torch.manual_seed(1)
    for p in adapter.parameters():
        p.data.normal_()
    x = torch.rand(2, 3, 5, 4)
    ref = x.permute(0, 2, 3, 1)  # pixels as rows, channels as columns
    for conv in (adapter[0], adapter[2]):
        ref = (ref @ conv.weight[:, :, 0, 0].T + conv.bias).clamp_min(0)
    torch.testing.assert_close(adapter(x), ref.permute(0, 3, 1, 2))


def test_uint8_inputs_are_scaled_to_unit_range_before_the_adapter(build):
    model, _ = build()
    model.eval()
    pixels = torch.randint(0, 256, (2, 3, 28, 28), dtype=torch.uint8)
    torch.testing.assert_close(model.logits(pixels), model.logits(pixels.float() / 255))


def test_only_adapter_parameters_receive_gradients(build):
    model, _ = build()
    losses = model.loss(None, batch()["target"])
    sum(losses.values()).backward()
    assert all(p.grad is None for p in model.net.parameters())
    grads = [p.grad for p in model.adapter.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


def test_frozen_model_is_bit_identical_after_training_steps(build):
    model, wrapper = build()
    net_before = {k: v.clone() for k, v in model.net.state_dict().items()}
    adapter_before = {k: v.clone() for k, v in model.adapter.state_dict().items()}
    model.train()
    for step in range(3):
        model.train_step(batch(seed=step), wrapper)
    assert all(torch.equal(v, net_before[k]) for k, v in model.net.state_dict().items())
    assert any(not torch.equal(v, adapter_before[k]) for k, v in model.adapter.state_dict().items())


def test_frozen_model_stays_in_eval_mode_while_the_adapter_trains(build):
    model, _ = build()
    model.train()
    assert model.adapter.training and not model.net.training
    x = torch.rand(4, 3, 28, 28)
    assert torch.equal(model.logits(x), model.logits(x))  # no dropout in the frozen LeNet


def test_zero_layers_is_an_error(build):
    with pytest.raises(ValueError, match="layers = 0: Input should be greater than 0"):
        build(sets=["method.layers=0"])
