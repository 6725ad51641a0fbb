"""Data calibrator (Ye et al., "Light-weight Calibrator: a Separable Component for
Unsupervised Domain Adaptation", CVPR 2020; seed 000).

The source classifier is trained once on the source domain (the cached
source-only model) and then frozen. A small generator adds an L-infinity-bounded
perturbation to every input; a pixel-level and a feature-level discriminator
learn to tell apart four groups (source, target, calibrated target, calibrated
source) while the calibrator learns to make both calibrated groups look like
source. At test time inputs go through the calibrator, then the frozen
classifier; the classifier itself is never changed.

Per iteration, as the official calibrator/tools/train_calibrator_net.py: one
step of both discriminators on the four groups, then one step of the calibrator
on fresh calibrations. Each part has its own Adam optimizer (betas 0.9, 0.999,
weight decay 5e-4, constant learning rate: the official StepLR schedulers are
built but never stepped).

Checked line by line against yeshaokai/Calibrator-Domain-Adaptation
(calibrator/models/{calibrator,calibrator_net,backbones}.py,
tools/train_calibrator_net.py, configs/digits/mnist_to_usps.yml). Same: the
four groups and their labels (0 s, 1 t, 2 calibrated t, 3 calibrated s), the
discriminators' summed cross-entropies, the generator's 1.0 / 0.1 weights of
target / source terms, the feature discriminator on the softmax (C-1000-500-4,
dropout 0.5), the pixel discriminator on one shuffled 4x4 cell (N(0, 0.02)
init), the generator (resnet_9, ngf 8, instance norm, N(0, 0.02) init), the
calibrated image clamped to the input box. Deviations (official -> here):

- bound: one-sided ``clamp((tanh + 1) / 2, 0, eps)`` -> ``eps * tanh`` by
  default (``bound = "symmetric"``; ``"brighten"`` is the official one). At
  initialisation the official clamp cuts almost every pixel (0.5 > eps = 0.4),
  so the generator starts as a constant brightening with little gradient.
- the frozen classifier runs in eval mode (``frozen_net_mode = "eval"``); the
  official code leaves it in train mode (dropout on, batch-norm batch
  statistics) during calibration. ``"train"`` is the official behaviour.
- the pixel discriminator draws its cell anywhere in the image; the official
  ``RESOLUTION: 16`` restricts it to the first 16 cells (the top rows of 32x32).
- digits: the official source net is DTN at 32x32 RGB in [-1, 1] trained 300
  epochs on 60k MNIST; the harness's digits protocols use LeNet at 28x28 grey on
  their own (5k) source sets, inputs in [-1, 1] as there. The official run
  trains the calibrator 200 epochs (about 11,200 iterations on MNIST->USPS) and
  reports the best epoch on target-test accuracy; the protocols' budgets are in
  their ``[methods.calibrator]`` tables and the final iterate is reported.
"""

import dataclasses
from typing import Literal

import torch
from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt

import harness.multi_optim  # noqa: F401  (registers MultiOptimWrapperConstructor)
from harness.method import UDAMethod
from harness.registry import METHODS
from methods._nets.calibrator import (
    CALIBRATED_SOURCE,
    CALIBRATED_TARGET,
    SOURCE,
    TARGET,
    FeatureDiscriminator,
    PerturbationGenerator,
    PixelDiscriminator,
    group_loss,
)

#: Submodules with an optimizer each; the backbone ``net`` has none (frozen).
TRAINED = ("calibrator", "pixel_discriminator", "feature_discriminator")


@METHODS.register_module(name="calibrator")
class Calibrator(UDAMethod):
    needs_source_model = True
    multi_optimizer = True

    @dataclasses.dataclass(frozen=True)
    class HParams:
        #: L-infinity bound of the perturbation in the backbone's input units (digits:
        #: [-1, 1]). Official configs/digits/mnist_to_usps.yml L_INFTY_NORM = 0.4
        #: (usps_to_mnist 0.9, svhn_to_mnist 0.8); paper Sec. 5.2: 0.01 for GTA5->Cityscapes.
        epsilon: PositiveFloat = 0.4
        #: Generator width (ngf, CALI_WIDTH_FACTOR = 8 in mnist_to_usps.yml): with 9
        #: blocks this is Table 3's 0.18M; width 4 gives the 0.05M of the DRN-26 row.
        width: PositiveInt = 8
        #: Residual blocks (ARCH: resnet_9, mnist_to_usps.yml).
        blocks: PositiveInt = 9
        #: Pixel-discriminator patch side (PATCH_SIZE = 4, mnist_to_usps.yml).
        patch: PositiveInt = 4
        #: Pixel-discriminator hidden units (backbones.py PixelDiscriminator default 128).
        pixel_hidden: PositiveInt = 128
        #: Feature-discriminator hidden layers (official FeatureDiscriminator: 1000, 500).
        feature_hidden: tuple[PositiveInt, ...] = (1000, 500)
        #: "symmetric": eps * tanh; "brighten": the official clamp((tanh + 1) / 2, 0, eps).
        bound: Literal["symmetric", "brighten"] = "symmetric"
        #: Mode of the frozen classifier during calibration (official: "train").
        frozen_net_mode: Literal["eval", "train"] = "eval"
        #: Weight of the calibrated-source terms in the calibrator's loss
        #: (train_calibrator_net.py: 1.0 target terms, 0.1 source terms, "good for digits").
        source_weight: NonNegativeFloat = 0.1
        #: Adam for every component (paper Sec. 4: learning rate 1e-4).
        lr: PositiveFloat = 1e-4
        #: Adam weight decay (mnist_to_usps.yml OPTIMIZER.ADAM.WEIGHT_DECAY).
        weight_decay: NonNegativeFloat = 5e-4

    def __init__(self, backbone: dict, **kwargs):
        super().__init__(backbone, **kwargs)
        self.net.requires_grad_(False)
        channels = self.net.in_channels
        hp = self.hp
        self.calibrator = PerturbationGenerator(channels, hp.epsilon, hp.width, hp.blocks,
                                                bound=hp.bound)
        self.pixel_discriminator = PixelDiscriminator(channels, hp.patch, hp.pixel_hidden)
        self.feature_discriminator = FeatureDiscriminator(backbone["num_classes"],
                                                          hp.feature_hidden)
        # Calibrated inputs stay valid images: the [0, 255] range in normalised units.
        self.register_buffer("box_low", (0.0 - self.mean) / self.std, False)
        self.register_buffer("box_high", (255.0 - self.mean) / self.std, False)

    @classmethod
    def optim_wrapper_cfg(cls, base: dict, hparams) -> dict:
        wrapper = {"type": base["type"], "optimizer": {
            "type": "Adam", "lr": hparams.lr, "weight_decay": hparams.weight_decay}}
        if "dtype" in base:
            wrapper["dtype"] = base["dtype"]
        return {"constructor": "MultiOptimWrapperConstructor",
                **{name: dict(wrapper) for name in TRAINED}}

    def train(self, mode: bool = True):
        """The frozen classifier stays in eval mode unless ``frozen_net_mode = "train"``."""
        super().train(mode)
        self.net.train(mode and self.hp.frozen_net_mode == "train")
        return self

    # -- the calibrator -------------------------------------------------------
    def calibrate(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised images -> calibrated normalised images, clipped to the valid range."""
        return torch.maximum(torch.minimum(z + self.calibrator(z), self.box_high), self.box_low)

    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net(self.calibrate(self.normalize(inputs)))

    def predict_probs(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.net.forward_features(self.calibrate(self.normalize(inputs)))
        return self.net.classify(features).softmax(1), features

    def loss(self, source, target):
        """The calibrator's loss: both discriminators should call calibrated images "source"."""
        zs, zt = self.normalize(source["inputs"]), self.normalize(target["inputs"])
        cs, ct = self.calibrate(zs), self.calibrate(zt)
        w = self.hp.source_weight
        pixel = group_loss(self.pixel_discriminator(ct), SOURCE) + w * group_loss(
            self.pixel_discriminator(cs), SOURCE)
        feature = group_loss(self.feature_discriminator(self.net(ct)), SOURCE) + w * group_loss(
            self.feature_discriminator(self.net(cs)), SOURCE)
        return {"loss_pixel_g": pixel, "loss_feature_g": feature}

    def discriminator_losses(self, source, target) -> dict[str, torch.Tensor]:
        """Both discriminators classify the four groups; the calibrator is not updated."""
        zs, zt = self.normalize(source["inputs"]), self.normalize(target["inputs"])
        with torch.no_grad():
            groups = {SOURCE: zs, TARGET: zt, CALIBRATED_TARGET: self.calibrate(zt),
                      CALIBRATED_SOURCE: self.calibrate(zs)}
            logits = {g: self.net(z) for g, z in groups.items()}
        return {
            "loss_pixel_d": sum(group_loss(self.pixel_discriminator(z), g)
                                for g, z in groups.items()),
            "loss_feature_d": sum(group_loss(self.feature_discriminator(x), g)
                                  for g, x in logits.items()),
        }

    def train_step(self, data: dict, optim_wrapper) -> dict[str, torch.Tensor]:
        data = self.data_preprocessor(data, True)
        source, target = data["source"], data["target"]
        # Gradients the calibrator's step left on the discriminators must not leak in.
        for name in ("pixel_discriminator", "feature_discriminator"):
            optim_wrapper[name].zero_grad()
        with optim_wrapper["pixel_discriminator"].optim_context(self):
            d_losses = self.discriminator_losses(source, target)
        _, d_log = self.parse_losses(d_losses)
        optim_wrapper["pixel_discriminator"].update_params(d_losses["loss_pixel_d"])
        optim_wrapper["feature_discriminator"].update_params(d_losses["loss_feature_d"])
        with optim_wrapper["calibrator"].optim_context(self):
            g_losses = self.loss(source, target)
        g_loss, g_log = self.parse_losses(g_losses)
        optim_wrapper["calibrator"].update_params(g_loss)
        log = {k: v for k, v in {**d_log, **g_log}.items() if k != "loss"}
        return {**log, "loss_d": d_log["loss"], "loss_g": g_log["loss"]}

    @torch.no_grad()
    def val_step(self, data: dict) -> list[dict]:
        """Predictions with the calibrator (``pred``) and without it (``pred_uncalibrated``)."""
        data = self.data_preprocessor(data, False)
        label = data["label"]
        z = self.normalize(data["inputs"])
        calibrated = self.resize_to(self.net(self.calibrate(z)), label).argmax(1)
        plain = self.resize_to(self.net(z), label).argmax(1)
        return [{"pred": calibrated, "gt": label, "pred_uncalibrated": plain}]

    test_step = val_step
