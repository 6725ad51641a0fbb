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
on fresh calibrations. Each part has its own Adam optimizer.
"""

import dataclasses

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
        #: Feature-discriminator hidden units (the official 500-unit layer before the output).
        feature_hidden: PositiveInt = 500
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
        self.calibrator = PerturbationGenerator(channels, hp.epsilon, hp.width, hp.blocks)
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
        """The frozen classifier stays in eval mode: dropout off, batch-norm statistics fixed."""
        super().train(mode)
        self.net.eval()
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
