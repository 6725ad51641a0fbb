"""The calibrator: bounded perturbation, frozen classifier, four-way discriminators, sizes."""

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from harness.method import HParamsError, build_hparams
from harness.plan import make_plan
from harness.registry import MODELS
from methods._nets.calibrator import PerturbationGenerator, PixelDiscriminator
from methods.calibrator import Calibrator


def build(backbone="lenet", channels=1, num_classes=10, **hparams):
    with DefaultScope.overwrite_default_scope("harness"):
        MODELS.import_from_location()
        cfg = {"type": backbone, "num_classes": num_classes}
        if backbone in ("lenet", "dtn"):
            cfg["in_channels"] = channels
        model = Calibrator(backbone=cfg, hparams=hparams)
        wrapper = build_optim_wrapper(
            model, Calibrator.optim_wrapper_cfg({"type": "OptimWrapper"}, model.hp))
    return model, wrapper


def batches(n=6, channels=1):
    g = torch.Generator().manual_seed(0)
    return {"source": {"inputs": torch.rand(n, channels, 28, 28, generator=g),
                       "label": torch.randint(0, 10, (n,), generator=g)},
            "target": {"inputs": torch.rand(n, channels, 28, 28, generator=g)}}


def params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_perturbation_stays_in_the_epsilon_ball_and_the_image_range():
    torch.manual_seed(0)
    gen = PerturbationGenerator(channels=3, epsilon=0.05, width=4, blocks=1).train()
    with torch.no_grad():
        gen.model[-3].bias.fill_(5.0)  # saturate tanh: dropout's 1/0.95 would exceed the ball
        delta = gen(torch.randn(4, 3, 30, 30))  # 30 is not a multiple of 4: padded and cropped
    assert delta.shape == (4, 3, 30, 30)
    assert delta.abs().max() <= 0.05 and delta.abs().max() > 0.049
    model, _ = build(epsilon=0.9)
    z = model.normalize(torch.rand(2, 1, 28, 28))
    calibrated = model.calibrate(z)
    assert (calibrated - z).abs().max() <= 0.9 + 1e-6
    assert calibrated.min() >= -1.0 and calibrated.max() <= 1.0  # (x - 127.5) / 127.5 box


def test_training_changes_only_the_calibrator_and_discriminators():
    torch.manual_seed(0)
    model, wrapper = build()
    net_before = {k: v.clone() for k, v in model.net.state_dict().items()}
    others = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("net.")}
    model.train()
    assert not model.net.training  # dropout of the frozen classifier stays off
    for _ in range(2):
        log = model.train_step(batches(), wrapper)
    assert all(torch.isfinite(v) for v in log.values())
    for k, v in model.net.state_dict().items():
        assert torch.equal(v, net_before[k]), k  # bit-identical
    assert all(p.grad is None for p in model.net.parameters())
    changed = {k.split(".")[0] for k, v in model.state_dict().items()
               if k in others and not torch.equal(v, others[k])}
    assert changed == {"calibrator", "pixel_discriminator", "feature_discriminator"}


def test_val_step_reports_with_and_without_the_calibrator():
    model, _ = build()
    model.eval()
    data = {"inputs": torch.rand(5, 1, 28, 28), "label": torch.arange(5)}
    out = model.val_step(data)[0]
    plain = model.net(model.normalize(data["inputs"])).argmax(1)
    assert torch.equal(out["pred_uncalibrated"], plain)
    assert torch.equal(out["pred"], model.predict(data["inputs"]).argmax(1))


def test_pixel_discriminator_sees_one_shuffled_grid_cell():
    disc = PixelDiscriminator(channels=1, patch=4, hidden=3)
    seen = []
    disc.classifier[0].register_forward_hook(lambda m, i, o: seen.append(i[0]))
    image = torch.arange(12 * 8, dtype=torch.float).view(1, 1, 12, 8)
    torch.manual_seed(3)
    disc(image)
    values = sorted(seen[0][0].tolist())
    cells = [sorted(image[0, 0, r:r + 4, c:c + 4].flatten().tolist())
             for r in range(0, 12, 4) for c in range(0, 8, 4)]
    assert values in cells
    assert seen[0][0].tolist() != image[0, 0].unfold(0, 4, 4).unfold(1, 4, 4).reshape(
        -1, 16)[cells.index(values)].tolist()  # the pixels were permuted


def test_parameter_counts_match_table_3():
    # Table 3 (seed 000): a 0.18M calibrator for "LeNet" (CyCADA's DTN on 3x32x32, which
    # the official configs train) and 0.05M for DRN-26; the classifiers' own 3.13M and
    # 20.6M are checked with every backbone in tests/models/test_backbones.py.
    model, _ = build("dtn", channels=3)
    assert round(params(model.calibrator) / 1e6, 2) == 0.18
    assert params(model.calibrator) == 180_419  # ngf 8, 9 blocks, RGB
    drn, _ = build("drn_c26", num_classes=19, width=4, epsilon=0.01)
    assert round(params(drn.calibrator) / 1e6, 2) == 0.05


@pytest.mark.parametrize("epsilon", [0.0, -0.1])
def test_epsilon_must_be_positive(epsilon):
    with pytest.raises(HParamsError, match="epsilon = .*: Input should be greater than 0"):
        build_hparams(Calibrator.HParams, {"epsilon": epsilon}, "calibrator")
    with pytest.raises(HParamsError, match="epsilon"):
        make_plan("digits_mnist_optdigits", "calibrator", "lenet", 0, [f"method.epsilon={epsilon}"])


def test_brighten_bound_is_the_official_one_sided_clamp():
    """Official models/calibrator.py: clamp((tanh + 1) / 2, 0, eps): brightens only."""
    torch.manual_seed(0)
    gen = PerturbationGenerator(channels=1, epsilon=0.4, width=4, blocks=1,
                                bound="brighten").eval()
    z = torch.randn(3, 1, 28, 28)
    p = gen.model(z)  # tanh output (eval: no dropout)
    assert torch.equal(gen(z), ((p + 1) / 2).clamp(0, 0.4))
    delta = gen(z)
    assert delta.min() >= 0 and delta.max() <= 0.4
    with pytest.raises(ValueError, match="bound 'both'"):
        PerturbationGenerator(channels=1, epsilon=0.4, bound="both")
    assert (PerturbationGenerator(channels=1, epsilon=0.4, width=4, blocks=1).eval()(z)
            < 0).any()  # the default symmetric ball darkens too


def test_frozen_classifier_mode_follows_the_hparam():
    model, _ = build(frozen_net_mode="train")
    model.train()
    assert model.net.training and model.calibrator.training
    model.eval()
    assert not model.net.training


def test_feature_discriminator_is_the_official_c_1000_500_4():
    model, _ = build()
    shapes = [tuple(m.weight.shape) for m in model.feature_discriminator.modules()
              if isinstance(m, torch.nn.Linear)]
    assert shapes == [(1000, 10), (500, 1000), (4, 500)]
    dense = model.feature_discriminator(torch.randn(2, 10, 3, 5))
    assert dense.shape == (2, 4, 3, 5)  # per position for segmentation logits
