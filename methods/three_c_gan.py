"""3C-GAN: collaborative class-conditional GAN for model adaptation without source data
(Li, Jiao, Cao, Wong, Wu, "Model Adaptation: Unsupervised Domain Adaptation without
Source Data", CVPR 2020; seed 001, the thesis' third part).

Only the source model's weights and unlabeled target images are used. A
class-conditional generator ``G(y, z)`` learns, against a discriminator ``D`` that
sees real target images, to produce target-style images that the current
classifier ``C`` labels ``y``::

    min_G max_D  l_adv + lambda_sem * l_sem,    l_sem = E_{y,z}[-y log C(G(y, z))]

and the classifier, initialised from the source model, learns from the generated
pairs while staying near the source weights and clustering the target::

    min_C  lambda_gen * l_gen + lambda_w * l_wReg + lambda_clu * l_cluReg
    l_gen    = E_{x_g, y}[-y log C(x_g)]
    l_wReg   = ||theta_C - theta_CS||
    l_cluReg = E_{x_t}[-C(x_t) log C(x_t)] + KL(C(x_t) || C(x_t + r~))

with ``r~`` the virtual adversarial perturbation of VAT (Miyato et al., TPAMI 2018).
The formulas are those of the thesis' slides (seed 001); ``l_wReg`` is the plain L2
norm as printed there. Per iteration: one step of D, one of G, one of C, each with
its own optimizer (D and G Adam as DCGAN; C the protocol's optimizer).
"""

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt
from torch.nn.utils import parameters_to_vector

import harness.multi_optim  # noqa: F401  (registers MultiOptimWrapperConstructor)
from harness.losses.clustering import entropy, vat_loss
from harness.method import HParamsError, UDAMethod
from harness.multi_optim import adam_wrapper, submodule_wrapper
from harness.pictures import image_grid
from harness.registry import METHODS
from methods._nets.three_c_gan import ConditionalGenerator, Discriminator

#: Samples per class in the picture of generated images (one row per class).
PICTURE_SAMPLES = 8
#: Side of one tile of that picture at most (224x224 Office images are shown smaller).
PICTURE_TILE = 64


def weight_distance(params, source: torch.Tensor) -> torch.Tensor:
    """``||theta_C - theta_CS||``: L2 norm of the change of every classifier parameter."""
    return torch.linalg.vector_norm(parameters_to_vector(params) - source)


@METHODS.register_module(name="three_c_gan")
class ThreeCGAN(UDAMethod):
    tasks = ("classification",)
    train_domains = ("target",)
    needs_source_model = True
    source_free = True
    multi_optimizer = True

    @dataclasses.dataclass(frozen=True)
    class HParams:
        # The 3C-GAN paper's trade-off weights are not in the text available to us (the
        # thesis' slides print the losses without values) and no official code was
        # found: the weights below are our choice, stated as such.
        #: Weight of l_sem in G's objective (not found; 1, the adversarial term's scale).
        lambda_sem: NonNegativeFloat = 1.0
        #: Weight of l_gen in C's objective (not found; 1, a plain supervised term).
        lambda_gen: NonNegativeFloat = 1.0
        #: Weight of l_wReg (not found; 0.1, a gentle pull towards the source weights).
        lambda_w: NonNegativeFloat = 0.1
        #: Weight of l_cluReg (not found; 0.1, entropy and VAT smaller than the
        #: supervised term, as VADA/DIRT-T weigh their target terms: --tw 1e-2 against
        #: --sw 1 in RuiShu/dirt-t run_dirtt.py).
        lambda_clu: NonNegativeFloat = 0.1
        #: VAT radius in the backbone's input units (digits: [-1, 1]); RuiShu/dirt-t
        #: run_dirtt.py --ball 3.5 for 32x32 digits and signs.
        vat_eps: PositiveFloat = 3.5
        #: VAT finite-difference step (Miyato et al. 2018, Sec. 3.3: xi = 1e-6).
        vat_xi: PositiveFloat = 1e-6
        #: Noise dimension (DCGAN, Radford et al. 2016: z of 100 dimensions).
        noise_dim: PositiveInt = 100
        #: Width of G's last and D's first layer (DCGAN's ngf = ndf = 64).
        width: PositiveInt = 64
        #: Adam for G and D (DCGAN Sec. 4: learning rate 2e-4, beta1 0.5).
        gan_lr: PositiveFloat = 2e-4
        gan_beta1: float = 0.5
        #: Generated image side; None = the backbone's fixed input side
        #: (``min_input_size``: 28 for LeNet, 32 for DTN). Office-31 sets 224.
        image_size: int | None = None

        def __post_init__(self):
            for name in ("lambda_sem", "lambda_gen", "lambda_w", "lambda_clu"):
                if getattr(self, name) < 0:
                    raise HParamsError(f"three_c_gan: {name} = {getattr(self, name)!r} must "
                                       "be >= 0")
            if not (self.vat_eps > 0 and self.vat_xi > 0):
                raise HParamsError("three_c_gan: vat_eps and vat_xi must be > 0, e.g. "
                                   "--set method.vat_eps=3.5")
            if self.noise_dim < 1 or self.width < 1:
                raise HParamsError("three_c_gan: noise_dim and width must be >= 1")

    def __init__(self, backbone: dict, **kwargs):
        super().__init__(backbone, **kwargs)
        hp = self.hp
        side = hp.image_size or self.net.min_input_size[0]
        channels = self.net.in_channels
        try:
            self.generator = ConditionalGenerator(self.num_classes, hp.noise_dim, channels,
                                                  side, hp.width)
            self.discriminator = Discriminator(channels, side, hp.width)
        except ValueError as exc:
            raise HParamsError(f"three_c_gan: {exc} (--set method.image_size=N)") from None
        # theta_CS: the source classifier's weights, kept for l_wReg (a buffer, so that
        # --resume restores it with the rest of the model).
        self.register_buffer("source_weights",
                             parameters_to_vector(self.net.parameters()).detach().clone())

    @classmethod
    def optim_wrapper_cfg(cls, base: dict, hparams) -> dict:
        """C keeps the protocol's optimizer (and head lr multiplier); G and D get Adam."""
        gan = adam_wrapper(base, hparams.gan_lr, hparams.gan_beta1)
        return {"constructor": "MultiOptimWrapperConstructor", "net": submodule_wrapper(base),
                "generator": gan, "discriminator": dict(gan)}

    # -- the three objectives ----------------------------------------------------
    def generate(self, n: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` generated images (in [0, 1]) with uniformly drawn class ids."""
        y = torch.randint(self.num_classes, (n,), device=device)
        z = torch.randn(n, self.hp.noise_dim, device=device)
        return self.generator(y, z), y

    def discriminator_losses(self, target: dict, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        real = self.discriminator(self.normalize(target["inputs"]))
        fake = self.discriminator(self.normalize(fake.detach()))
        return {"loss_d_real": F.binary_cross_entropy_with_logits(real, torch.ones_like(real)),
                "loss_d_fake": F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))}

    def generator_losses(self, fake: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Non-saturating l_adv (D should call the samples target) plus l_sem through C."""
        score = self.discriminator(self.normalize(fake))
        return {"loss_g_adv": F.binary_cross_entropy_with_logits(score, torch.ones_like(score)),
                "loss_g_sem": self.hp.lambda_sem * F.cross_entropy(self.logits(fake), y)}

    def loss(self, source, target):
        """C's objective on a fresh generated batch and the unlabeled target batch."""
        hp = self.hp
        x_t = self.normalize(target["inputs"])
        with torch.no_grad():
            fake, y = self.generate(len(x_t), x_t.device)
        return {
            "loss_gen": hp.lambda_gen * F.cross_entropy(self.logits(fake), y),
            "loss_w_reg": hp.lambda_w * weight_distance(self.net.parameters(),
                                                        self.source_weights),
            "loss_entropy": hp.lambda_clu * entropy(self.net(x_t)),
            "loss_vat": hp.lambda_clu * vat_loss(self.net, x_t, hp.vat_eps, hp.vat_xi),
        }

    def train_step(self, data: dict, optim_wrapper) -> dict[str, torch.Tensor]:
        data = self.data_preprocessor(data, True)
        target = data["target"]
        logs = {}
        # D: real target images against generated ones. Gradients that G's step left
        # on D and C are cleared before their own steps.
        optim_wrapper["discriminator"].zero_grad()
        with optim_wrapper["discriminator"].optim_context(self):
            fake, y = self.generate(len(target["inputs"]), target["inputs"].device)
            d_loss, d_log = self.parse_losses(self.discriminator_losses(target, fake))
        optim_wrapper["discriminator"].update_params(d_loss)
        with optim_wrapper["generator"].optim_context(self):
            g_loss, g_log = self.parse_losses(self.generator_losses(fake, y))
        optim_wrapper["generator"].update_params(g_loss)
        optim_wrapper["net"].zero_grad()
        with optim_wrapper["net"].optim_context(self):
            c_loss, c_log = self.parse_losses(self.loss(None, target))
        optim_wrapper["net"].update_params(c_loss)
        for part, log in (("d", d_log), ("g", g_log), ("c", c_log)):
            logs.update({k: v for k, v in log.items() if k != "loss"})
            logs[f"loss_{part}"] = log["loss"]
        return logs

    @torch.no_grad()
    def pictures(self) -> dict[str, np.ndarray]:
        """One row per class of ``PICTURE_SAMPLES`` generated images (fixed noise)."""
        was_training = self.generator.training
        self.generator.eval()
        device = self.source_weights.device
        # A generator of its own: the picture never moves the run's random streams.
        g = torch.Generator().manual_seed(0)
        y = torch.arange(self.num_classes).repeat_interleave(PICTURE_SAMPLES)
        z = torch.randn(len(y), self.hp.noise_dim, generator=g)
        images = self.generator(y.to(device), z.to(device))
        self.generator.train(was_training)
        return {"samples": image_grid(images, PICTURE_SAMPLES, max_side=PICTURE_TILE)}
