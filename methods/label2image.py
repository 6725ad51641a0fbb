"""Label2Image-DA: generating target image-label pairs (Li, Cao, Wu, Wong; IEEE TIP 2020;
seed 001, the thesis' "Generating Target Image-Label Pairs for Unsupervised Domain
Adaptation" slides).

The slides' three phases:

- Phase 1, "training the task prediction model (T) with the source data to obtain
  a weak T in the target domain": the cached source-only model
  (``needs_source_model``).
- Phase 2, "training the generator G and the discriminator D in adversarial manner
  to obtain target training pairs": G turns labels into target-domain images; the
  frozen T is the semantic constraint (T must read the label back from G's image).
- Phase 3, "adding the generated data into training of T": G is frozen and T
  trains on the source and on generated image-label pairs.

Phases 2 and 3 are the harness's rounds (``rounds`` = 2, ``on_round_start``): the
protocol's iterations are split evenly between them. A round only switches which
parts train; their weights are in the run's checkpoints, so a run resumed in phase 3
continues with the generator phase 2 trained, and nothing goes to ``ctx.artifacts``.

    phase 2: min_G max_D  E_t[log D(x_t)] + E_{y,z}[log(1 - D(G(y, z)))]
                          + E_{y,z} H[T(G(y, z)), y]
    phase 3: min_T  E_s H[T(x_s), y_s] + E_{y,z} H[T(G(y, z)), y]  (+ L_reg)

Labels are a class one-hot plus noise for classification (the generator is
3C-GAN's DCGAN generator, ``methods/_nets/three_c_gan.py``), and label maps (the
source batch's) plus noise maps for segmentation (the slides' "Input Labels ->
Generated Images (target-style)" figure; CycleGAN's ResNet generator,
``methods/_nets/image_gan.py``).

``label2image_reg`` adds L_reg to phase 3. Its definition could not be found
(neither the paper's text nor official code was searchable); it is taken as the
clustering regulariser of the authors' sister paper on the same slides (3C-GAN,
Li et al., CVPR 2020: "l_cluReg = E_t[-C(x_t) log C(x_t)] + KL(C(x_t) || C(x_t +
r~))") on unlabeled target images: prediction entropy plus VAT (Miyato et al.,
TPAMI 2018, one power iteration), ``harness/losses/clustering.py``.
"""

import dataclasses
from typing import Annotated

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt

import harness.multi_optim  # noqa: F401  (registers MultiOptimWrapperConstructor)
from harness.losses.clustering import entropy, vat_loss
from harness.method import HParamsError, UDAMethod
from harness.multi_optim import adam_wrapper, submodule_wrapper, update_only
from harness.pictures import image_grid
from harness.registry import METHODS
from harness.rounds import RoundContext
from harness.utils import IGNORE_INDEX
from methods._nets.image_gan import LabelMapGenerator, PatchDiscriminator, as_unit, gan_loss
from methods._nets.three_c_gan import ConditionalGenerator

#: Rounds = phases 2 and 3 (phase 1 is the cached source model).
GENERATE, ADAPT = 0, 1
#: Generated samples per class in the classification picture; label maps shown.
PER_CLASS, SHOWN_MAPS = 8, 4
#: Longest side of one tile of the picture (segmentation crops are shrunk).
PICTURE_TILE = 160


@METHODS.register_module(name="label2image")
class Label2Image(UDAMethod):
    needs_source_model = True
    multi_optimizer = True

    @dataclasses.dataclass(frozen=True)
    class HParams:
        #: Weights of G's adversarial and semantic terms: unweighted, as the sister
        #: paper's "min_G max_D l_adv + l_sem" (3C-GAN, seed 001); not found for this one.
        adv_weight: NonNegativeFloat = 1.0
        sem_weight: NonNegativeFloat = 1.0
        #: Weight of the generated pairs in phase 3 (the slides add them to T's training
        #: as more labeled data: 1).
        generated_weight: NonNegativeFloat = 1.0
        #: Classification: noise dimension and generator width (DCGAN, Radford et al.
        #: 2016, Sec. 4: z of 100, 64 filters). Not given.
        noise_dim: PositiveInt = 100
        width: PositiveInt = 64
        #: Segmentation: noise maps stacked with the one-hot label map (not given; 8
        #: chosen), and the ResNet generator's residual blocks (CycleGAN: 9).
        noise_channels: PositiveInt = 8
        blocks: PositiveInt = 9
        #: D: CycleGAN's 70x70 PatchGAN (ndf 64, 3 layers). Not given.
        disc_width: PositiveInt = 64
        disc_layers: PositiveInt = 3
        #: Adam for G and D: DCGAN's / CycleGAN's lr 2e-4, beta1 0.5. Not given.
        gan_lr: PositiveFloat = 2e-4
        gan_beta1: Annotated[float, Field(ge=0, lt=1)] = 0.5
        #: L_reg's weight in phase 3 (0: Label2Image-DA without L_reg). 0.01 for
        #: label2image_reg: VADA's target entropy and VAT weight on digits (Shu et al.
        #: 2018, lambda_t = 1e-2; RuiShu/dirt-t run_dirtt.py --tw 1e-2); not found.
        reg_weight: NonNegativeFloat = 0.0
        #: VAT radius in the backbone's input units and finite-difference step: 3C-GAN's
        #: (RuiShu/dirt-t --ball 3.5; Miyato et al. 2018, Sec. 3.3: xi = 1e-6).
        vat_eps: PositiveFloat = 3.5
        vat_xi: PositiveFloat = 1e-6

    def __init__(self, backbone: dict, **kwargs):
        super().__init__(backbone, **kwargs)
        hp = self.hp
        channels = self.net.in_channels
        self.dense = self.net.output_stride is not None
        if self.dense:
            self.generator = LabelMapGenerator(self.num_classes, hp.noise_channels, channels,
                                               hp.width, hp.blocks)
        else:  # digit classifiers take exactly their (square) min_input_size
            try:
                self.generator = ConditionalGenerator(self.num_classes, hp.noise_dim, channels,
                                                      self.net.min_input_size[0], hp.width)
            except ValueError as exc:
                raise HParamsError(f"label2image: {exc}") from None
        self.discriminator = PatchDiscriminator(channels, hp.disc_width, hp.disc_layers)
        self.phase = GENERATE
        # The first source label maps and images (segmentation picture). Not in the state
        # dict (their shape is the protocol's crop): a resumed run shows later ones.
        self.shown: dict | None = None

    @classmethod
    def optim_wrapper_cfg(cls, base: dict, hparams) -> dict:
        gan = adam_wrapper(base, hparams.gan_lr, hparams.gan_beta1)
        return {"constructor": "MultiOptimWrapperConstructor", "generator": gan,
                "discriminator": dict(gan), "net": submodule_wrapper(base)}

    @classmethod
    def rounds(cls, hparams) -> int:
        return 2  # phase 2 (generation), phase 3 (adaptation)

    def on_round_start(self, ctx: RoundContext) -> None:
        self.phase = ADAPT if ctx.round >= ADAPT else GENERATE
        self.train(self.training)  # the new phase's fixed parts go to eval mode

    def train(self, mode: bool = True):
        """The phase's fixed parts stay in eval mode: T in phase 2 (no dropout, batch-norm
        statistics of the source model), G in phase 3 (its batch-norm statistics stay
        those it was trained with)."""
        super().train(mode)
        if self.phase == GENERATE:
            self.net.eval()
        else:
            self.generator.eval()
            self.discriminator.eval()
        return self

    # -- generation ----------------------------------------------------------------
    def labels_and_noise(self, source: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """What G generates from: the source label maps (segmentation) or uniformly drawn
        classes (classification, as 3C-GAN draws them), with fresh noise."""
        label = source["label"]
        if self.dense:
            h, w = label.shape[-2:]
            noise = torch.randn(len(label), self.hp.noise_channels, h, w, device=label.device)
            return label, noise
        classes = torch.randint(self.num_classes, (len(label),), device=label.device)
        return classes, torch.randn(len(label), self.hp.noise_dim, device=label.device)

    def _ce(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        logits = self.resize_to(logits, label)
        return F.cross_entropy(logits, label.long(), ignore_index=IGNORE_INDEX)

    def generator_losses(self, source: dict) -> tuple[dict, torch.Tensor]:
        """Phase 2, G's terms (fool D; T reads the label back), and the generated images."""
        labels, noise = self.labels_and_noise(source)
        fake = self.generator(labels, noise)
        hp = self.hp
        return {"loss_g_adv": hp.adv_weight * gan_loss(self.discriminator(fake), True),
                "loss_g_sem": hp.sem_weight * self._ce(self.logits(fake), labels)}, fake

    def task_losses(self, source: dict, target: dict) -> dict:
        """Phase 3, T's terms: source labels, generated pairs (G fixed) and L_reg."""
        labels, noise = self.labels_and_noise(source)
        with torch.no_grad():
            fake = self.generator(labels, noise)
        hp = self.hp
        losses = {"loss_source": self.supervised_loss(source),
                  "loss_generated": hp.generated_weight * self._ce(self.logits(fake), labels)}
        if hp.reg_weight > 0:
            z = self.normalize(target["inputs"])
            losses["loss_reg"] = hp.reg_weight * (
                entropy(self.net(z)) + vat_loss(self.net, z, hp.vat_eps, hp.vat_xi))
        return losses

    def loss(self, source, target):
        if self.phase == GENERATE:
            return self.generator_losses(source)[0]
        return self.task_losses(source, target)

    def train_step(self, data: dict, optim_wrapper) -> dict[str, torch.Tensor]:
        data = self.data_preprocessor(data, True)
        source, target = data["source"], data["target"]
        if self.shown is None and self.dense:
            self.shown = {k: source[k][:SHOWN_MAPS].detach().cpu().clone()
                          for k in ("inputs", "label")}
        if self.phase == ADAPT:
            with optim_wrapper["net"].optim_context(self):
                losses = self.task_losses(source, target)
            loss, log = self.parse_losses(losses)
            update_only(optim_wrapper["net"], loss, self.net)
            return log
        with optim_wrapper["generator"].optim_context(self):
            g_losses, fake = self.generator_losses(source)
        g_loss, log = self.parse_losses(g_losses)
        # Only G's parameters: T is the fixed semantic constraint of this phase.
        update_only(optim_wrapper["generator"], g_loss, self.generator)
        with optim_wrapper["discriminator"].optim_context(self):
            d_loss = (gan_loss(self.discriminator(as_unit(target["inputs"])), True)
                      + gan_loss(self.discriminator(fake.detach()), False))
        _, d_log = self.parse_losses({"loss_d": d_loss})
        update_only(optim_wrapper["discriminator"], d_loss, self.discriminator)
        return {**log, "loss_d": d_log["loss"]}

    # -- pictures ------------------------------------------------------------------
    @torch.no_grad()
    def pictures(self) -> dict[str, np.ndarray]:
        """Classification: one row per class of generated images. Segmentation: source
        images (top row) above images generated from their label maps."""
        device = self.mean.device
        rng = torch.Generator().manual_seed(0)  # fixed noise; the run's streams untouched
        if not self.dense:
            classes = torch.arange(self.num_classes).repeat_interleave(PER_CLASS)
            noise = torch.randn(len(classes), self.hp.noise_dim, generator=rng)
            images, per_row = self._generate(classes.to(device), noise.to(device)), PER_CLASS
        elif self.shown is not None:
            label = self.shown["label"].to(device)
            noise = torch.randn(len(label), self.hp.noise_channels, *label.shape[-2:],
                                generator=rng)
            shown = as_unit(self.shown["inputs"].to(device))
            images = torch.cat([shown, self._generate(label, noise.to(device))])
            per_row = len(label)
        else:  # never trained
            return {}
        return {"generated": image_grid(images, per_row, max_side=PICTURE_TILE,
                                        pad_value=1.0)}

    def _generate(self, labels: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        was_training = self.generator.training
        self.generator.eval()
        images = self.generator(labels, noise)
        self.generator.train(was_training)
        return images


@METHODS.register_module(name="label2image_reg")
class Label2ImageReg(Label2Image):
    """Label2Image-DA with L_reg: target entropy and VAT in phase 3."""

    @dataclasses.dataclass(frozen=True)
    class HParams(Label2Image.HParams):
        reg_weight: NonNegativeFloat = 0.01
