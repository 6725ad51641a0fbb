"""SUIT: Simplified Unsupervised Image Translation (Li, Cao, Jiao, Wu, Wong; Pattern
Recognition 2020; seed 001, the thesis' "Simplified Unsupervised Image Translation for
Semantic Segmentation Adaptation --- Method" slides).

A one-way generator G translates source images into the target's style (no
inverse generator, no cycle, unlike CycleGAN/CyCADA). A discriminator D tells
target images from translated ones. G keeps each image's meaning through the task
network (L_sem) and its content through features f (L_con); the task network Seg
learns from the source images and their translations (L_task). As on the slides:

    L_adv(D, G) = E_t[log D(X_t)] + E_s[log(1 - D(G(X_s)))]
    L_semCon(G) = L_sem + L_con,  L_sem = E_s H[Seg(G(X_s)), Y_s],
                                  L_con = E_s ||f(G(X_s)) - f(X_s)||^2
    L_task(Seg) = E_s {H[Seg(X_s), Y_s] + H[Seg(G(X_s)), Y_s]}
    min_{G, Seg} max_D  L_adv + L_semCon + L_task

The same losses serve classification (Seg is then a classifier). Per iteration one
forward pass gives G's terms (L_adv + L_semCon, gradients into G only) and Seg's
(L_task, into Seg only), then D takes its step on real target images and the
detached translations. Each part has its own optimizer (``multi_optimizer``): G
and D Adam, Seg the protocol's optimizer.

``suit_avgw`` ("SUIT w/ Avg.W", the slides' results tables): Seg is evaluated with
averaged weights, an exponential moving average of its weights over training.

Transplant (the slides' "Transplant the pre-trained generator (with FCN-VGG16) to
the other segmentation backbone" table): ``--set method.generator=PATH`` loads G
from another SUIT run's ``model_final.pth`` and freezes it; only Seg trains (on
L_task), and the record names the run that trained G
(``method.loaded_weights.generator``).

Neither the paper's full text nor official code could be found: the slides give the
losses, the abstract (Pattern Recognition 107343) says both L_semCon terms "can be
derived from existing modules of SUIT" (hence f defaults to Seg's own features).
The loss weights, f, G's and D's architectures, their optimizers and the averaging
rule are not given; each default below says where it comes from.
"""

import dataclasses
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import harness.multi_optim  # noqa: F401  (registers MultiOptimWrapperConstructor)
from harness.checkpoints import load_final
from harness.method import HParamsError, UDAMethod
from harness.multi_optim import adam_wrapper, submodule_wrapper, update_only
from harness.pictures import image_grid
from harness.registry import METHODS
from harness.utils import IGNORE_INDEX
from methods._nets.image_gan import ImageTranslator, PatchDiscriminator, as_unit, gan_loss

#: Source images shown (above their translations) in the picture.
SHOWN = 8
#: Longest side of one tile of the picture (segmentation crops are shrunk).
PICTURE_TILE = 160

#: Sobel's horizontal derivative; its transpose is the vertical one.
_SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0


def feature_tensors(features) -> list[torch.Tensor]:
    """A backbone's ``forward_features`` output as tensors: most return one tensor,
    FCN8s a named tuple of its skip maps (plus the input size, not a feature)."""
    if isinstance(features, torch.Tensor):
        return [features]
    return [f for f in features if isinstance(f, torch.Tensor)]


def edge_maps(x: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of every channel of images in [0, 1].

    The same for an image and its colour inversion: an f that lets G change colours
    but not shapes. (A fixed 3x3 filter pair: no dependency is worth it.)
    """
    kernels = torch.stack([_SOBEL, _SOBEL.T])[:, None].to(x)
    # Replicated borders: an inverted image's border is no edge either.
    grads = F.conv2d(F.pad(x.flatten(0, 1)[:, None], (1, 1, 1, 1), mode="replicate"), kernels)
    return grads.square().sum(1).add(1e-6).sqrt().view_as(x)


def content_loss(translated, original) -> torch.Tensor:
    """L_con: mean squared distance between the features of G(x_s) and of x_s (held fixed),
    summed over the feature maps a backbone returns."""
    return sum(F.mse_loss(g, o.detach()) for g, o in zip(feature_tensors(translated),
                                                          feature_tensors(original),
                                                          strict=True))


@METHODS.register_module(name="suit")
class SUIT(UDAMethod):
    multi_optimizer = True

    @dataclasses.dataclass(frozen=True)
    class HParams:
        #: Weights of G's terms: the slides' objective "min_{G,Seg} max_D L_adv +
        #: L_semCon + L_task" sums them unweighted.
        adv_weight: NonNegativeFloat = 1.0
        sem_weight: NonNegativeFloat = 1.0
        content_weight: NonNegativeFloat = 1.0
        #: f of L_con (not given): "seg", Seg's own features (its forward_features;
        #: the abstract: derived "from existing modules of SUIT"), or "edges", Sobel
        #: gradient magnitudes of the images (blind to colour changes; the synthetic
        #: inversion test uses it, see tests/methods/test_generative_shift.py).
        content: Literal["seg", "edges"] = "seg"
        #: G's width (ngf) and residual blocks: CycleGAN's generator (Zhu et al. 2017,
        #: appendix 7.2: ngf 64, 9 blocks for 256x256 and larger). Not given.
        width: PositiveInt = 64
        blocks: PositiveInt = 9
        #: D: CycleGAN's 70x70 PatchGAN (ndf 64, 3 layers). Not given.
        disc_width: PositiveInt = 64
        disc_layers: PositiveInt = 3
        #: Adam for G and D: CycleGAN's lr 2e-4, beta1 0.5 (Zhu et al. 2017, Sec. 4). Not given.
        gan_lr: PositiveFloat = 2e-4
        gan_beta1: Annotated[float, Field(ge=0, lt=1)] = 0.5
        #: "Avg.W": decay of the exponential moving average of Seg's weights used at test
        #: time; None: no averaging (plain SUIT). The paper's rule was not found; 0.999
        #: for suit_avgw is mean teacher's EMA decay (Tarvainen & Valpola 2017, Sec. 3).
        average_decay: Annotated[float, Field(gt=0, lt=1)] | None = None
        #: Another SUIT run's model_final.pth: G is loaded from it and frozen (the
        #: transplant); D is then unused and gets no optimizer.
        generator: str | None = None

        def __post_init__(self):
            # At plan time, not after the source data is read.
            if self.generator is not None and not Path(self.generator).is_file():
                raise HParamsError(f"suit: generator = {self.generator!r} is not a file; pass "
                                   "the model_final.pth that a suit run wrote to its work dir")

    def __init__(self, backbone: dict, **kwargs):
        super().__init__(backbone, **kwargs)
        hp = self.hp
        channels = self.net.in_channels
        self.generator = ImageTranslator(channels, channels, hp.width, hp.blocks)
        self.discriminator = PatchDiscriminator(channels, hp.disc_width, hp.disc_layers)
        if self.frozen_generator:
            holder = torch.nn.Module()
            holder.generator = self.generator
            load_final(holder, hp.generator, prefix="generator.")
            self.generator.requires_grad_(False)
        self.seg_average = None
        if hp.average_decay is not None:
            self.seg_average = AveragedModel(
                self.net, multi_avg_fn=get_ema_multi_avg_fn(hp.average_decay), use_buffers=True)
            self.seg_average.requires_grad_(False)
        # The first source batch this process trains on, for the picture. Not in the
        # state dict (its shape is the protocol's crop, which strict loading would
        # compare): a resumed run shows the first batch after the resume.
        self.shown: torch.Tensor | None = None

    @classmethod
    def optim_wrapper_cfg(cls, base: dict, hparams) -> dict:
        wrappers = {"net": submodule_wrapper(base)}
        if hparams.generator is None:  # a loaded generator is frozen, and D then unused
            gan = adam_wrapper(base, hparams.gan_lr, hparams.gan_beta1)
            wrappers.update(generator=gan, discriminator=dict(gan))
        return {"constructor": "MultiOptimWrapperConstructor", **wrappers}

    @classmethod
    def weights_from(cls, hparams) -> dict[str, str]:
        return {} if hparams.generator is None else {"generator": hparams.generator}

    @property
    def frozen_generator(self) -> bool:
        return self.hp.generator is not None

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen_generator:
            self.generator.eval()
        if self.seg_average is not None:
            self.seg_average.eval()
        return self

    # -- the networks --------------------------------------------------------------
    def translate(self, x: torch.Tensor) -> torch.Tensor:
        """Source images (uint8 or [0, 1]) -> their target-style translations in [0, 1]."""
        return self.generator(as_unit(x))

    @property
    def seg(self) -> torch.nn.Module:
        """The task network that predicts: Seg, or its averaged weights (Avg.W)."""
        return self.net if self.seg_average is None else self.seg_average.module

    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.seg(self.normalize(inputs))

    def predict_probs(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.seg.forward_features(self.normalize(inputs))
        return self.seg.classify(features).softmax(1), features

    def _ce(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        logits = self.resize_to(logits, label)
        return F.cross_entropy(logits, label.long(), ignore_index=IGNORE_INDEX)

    # -- losses --------------------------------------------------------------------
    def loss(self, source, target):
        return self.losses_and_translation(source)[0]

    def losses_and_translation(self, source: dict) -> tuple[dict, torch.Tensor]:
        """G's and Seg's terms from one forward pass (``loss_g_*`` for G, ``loss_task_*``
        for Seg; a frozen generator has no terms of its own), and the translations."""
        label = source["label"]
        translated = self.translate(source["inputs"])
        feats_s = self.net.forward_features(self.normalize(source["inputs"]))
        feats_g = self.net.forward_features(self.normalize(translated))
        logits_g = self.net.classify(feats_g)
        losses = {"loss_task_source": self._ce(self.net.classify(feats_s), label),
                  "loss_task_translated": self._ce(logits_g, label)}
        if not self.frozen_generator:
            hp = self.hp
            if hp.content == "seg":
                con = content_loss(feats_g, feats_s)
            else:
                con = F.mse_loss(edge_maps(translated), edge_maps(as_unit(source["inputs"])))
            # L_sem is the same cross-entropy as L_task's second term; update_only sends
            # this copy's gradient to G and L_task's to Seg.
            losses.update(loss_g_adv=hp.adv_weight * gan_loss(self.discriminator(translated), True),
                          loss_g_sem=hp.sem_weight * self._ce(logits_g, label),
                          loss_g_content=hp.content_weight * con)
        return losses, translated

    def discriminator_loss(self, target: dict, translated: torch.Tensor) -> torch.Tensor:
        """D's side of L_adv: target images are real, translations (no gradient to G) fake."""
        real = gan_loss(self.discriminator(as_unit(target["inputs"])), True)
        return real + gan_loss(self.discriminator(translated.detach()), False)

    def train_step(self, data: dict, optim_wrapper) -> dict[str, torch.Tensor]:
        data = self.data_preprocessor(data, True)
        source, target = data["source"], data["target"]
        if self.shown is None:
            self.shown = source["inputs"][:SHOWN].detach().cpu().clone()
        with optim_wrapper["net"].optim_context(self):
            losses, translated = self.losses_and_translation(source)
        _, log = self.parse_losses(losses)
        task = losses["loss_task_source"] + losses["loss_task_translated"]
        if not self.frozen_generator:
            # G first: its step keeps the graph, which Seg's backward still needs.
            g_loss = sum(v for k, v in losses.items() if k.startswith("loss_g_"))
            update_only(optim_wrapper["generator"], g_loss, self.generator, retain_graph=True)
        update_only(optim_wrapper["net"], task, self.net)
        if self.seg_average is not None:
            self.seg_average.update_parameters(self.net)
        if not self.frozen_generator:
            with optim_wrapper["discriminator"].optim_context(self):
                d_loss = self.discriminator_loss(target, translated)
            _, d_log = self.parse_losses({"loss_d": d_loss})
            update_only(optim_wrapper["discriminator"], d_loss, self.discriminator)
            log["loss_d"] = d_log["loss"]
        return log

    # -- pictures ------------------------------------------------------------------
    @torch.no_grad()
    def pictures(self) -> dict[str, np.ndarray]:
        """Source images (top row) above their translations (bottom row)."""
        if self.shown is None:  # never trained
            return {}
        was_training = self.generator.training
        self.generator.eval()
        shown = as_unit(self.shown.to(self.mean.device))
        translated = self.generator(shown)
        self.generator.train(was_training)
        return {"translations": image_grid(torch.cat([shown, translated]), len(shown),
                                           max_side=PICTURE_TILE, pad_value=1.0)}


@METHODS.register_module(name="suit_avgw")
class SUITAveragedWeights(SUIT):
    """SUIT w/ Avg.W: Seg evaluated with the running (EMA) average of its weights."""

    @dataclasses.dataclass(frozen=True)
    class HParams(SUIT.HParams):
        average_decay: Annotated[float, Field(gt=0, lt=1)] | None = 0.999
