"""The data calibrator and its two domain discriminators (Ye et al., CVPR 2020; seed 000).

Architectures follow the official code (yeshaokai/Calibrator-Domain-Adaptation,
calibrator/models/backbones.py): the calibrator is the CycleGAN ResNet generator
(two stride-2 downsamplings, residual blocks, two upsamplings, instance norm)
whose output is an additive perturbation bounded in L-infinity; the pixel and
the feature discriminator are two fully connected layers each that classify an
input into the four groups (source, target, calibrated target, calibrated source).
"""

import torch
import torch.nn.functional as F
from torch import nn

from methods._nets.image_gan import init_normal, resnet_generator_layers, run_padded

#: Group ids of the four-way discriminators, as in the official
#: calibrator/tools/train_calibrator_net.py (0 s, 1 t, 2 calibrated t, 3 calibrated s).
SOURCE, TARGET, CALIBRATED_TARGET, CALIBRATED_SOURCE = 0, 1, 2, 3
GROUPS = 4


class PerturbationGenerator(nn.Module):
    """ResNet generator -> perturbation bounded by epsilon in L-infinity.

    ``width`` is the official ``CALI_WIDTH_FACTOR`` (ngf) and ``blocks`` the
    number of residual blocks (``ARCH: resnet_9``); the body is CycleGAN's ResNet
    generator (``methods/_nets/image_gan.py``), as in the official backbones.py.
    The output is ``tanh`` then dropout 0.05, then bounded:

    - ``bound="brighten"`` (official, models/calibrator.py): ``(p + 1) / 2``
      clamped to [0, epsilon]; it only brightens, and entries the clamp cuts
      have no gradient (at initialisation most of them, since p ~ 0 maps to 0.5);
    - ``bound="symmetric"``: ``epsilon * tanh``, the whole ball, with a gradient
      everywhere; a final clamp keeps the dropout's 1/0.95 rescaling inside it.
    """

    BOUNDS = ("symmetric", "brighten")

    def __init__(self, channels: int, epsilon: float, width: int = 8, blocks: int = 9,
                 dropout: float = 0.05, bound: str = "symmetric"):
        super().__init__()
        if bound not in self.BOUNDS:
            raise ValueError(f"calibrator bound {bound!r}: expected one of {self.BOUNDS}")
        self.epsilon, self.bound = epsilon, bound
        self.model = nn.Sequential(*resnet_generator_layers(channels, channels, width, blocks),
                                   nn.Tanh(), nn.Dropout(dropout))
        init_normal(self)  # official init: N(0, 0.02) weights, zero biases (init_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        p = run_padded(self.model, z)
        if self.bound == "brighten":
            return ((p + 1) / 2).clamp(0.0, self.epsilon)
        return (self.epsilon * p).clamp(-self.epsilon, self.epsilon)


class PixelDiscriminator(nn.Module):
    """Two FC layers on one random patch whose pixels are randomly shuffled (paper, Sec. 3).

    As in the official ``PixelDiscriminator``, the patch is one cell of the
    non-overlapping ``patch`` x ``patch`` grid, drawn once per call for the
    whole batch, and one spatial permutation is applied to every image; both
    keep the discriminator from over-fitting to image layout. The official one
    draws only among the first ``RESOLUTION**2 / patch**2`` cells (16 of the 64
    of a 32x32 digit: its top rows); here every cell of the image can be drawn.
    """

    def __init__(self, channels: int, patch: int = 4, hidden: int = 128):
        super().__init__()
        self.patch = patch
        self.classifier = nn.Sequential(
            nn.Linear(patch * patch * channels, hidden), nn.ReLU(), nn.Linear(hidden, GROUPS),
        )
        init_normal(self)  # official init_net(pixel_discriminator): N(0, 0.02), zero biases

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        p = self.patch
        rows, cols = z.shape[-2] // p, z.shape[-1] // p
        if rows == 0 or cols == 0:
            raise ValueError(f"pixel discriminator: patch {p} is larger than the input "
                             f"{tuple(z.shape[-2:])}; lower the method's patch")
        row, col = divmod(int(torch.randint(rows * cols, ())), cols)
        cell = z[:, :, row * p:(row + 1) * p, col * p:(col + 1) * p].flatten(2)
        shuffled = cell[:, :, torch.randperm(p * p, device=z.device)]
        return self.classifier(shuffled.flatten(1))


class FeatureDiscriminator(nn.Module):
    """FC layers on the classifier's softmax output, as the official
    ``FeatureDiscriminator`` (USE_SOFTMAX): C-1000-500-4 with dropout 0.5 before
    the output layer (the paper, Sec. 3, says "only two fully connected layers").

    The official ``Dropout2d`` on an (N, 500) tensor drops single units, as
    ``Dropout`` does. Dense logits (N, C, H, W) are classified per position,
    image logits (N, C) per image.
    """

    def __init__(self, num_classes: int, hidden: tuple[int, ...] = (1000, 500),
                 dropout: float = 0.5):
        super().__init__()
        layers, width = [], num_classes
        for units in hidden:
            layers += [nn.Linear(width, units), nn.ReLU()]
            width = units
        self.classifier = nn.Sequential(*layers, nn.Dropout(dropout), nn.Linear(width, GROUPS))

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return self.classifier(logits.softmax(1).movedim(1, -1)).movedim(-1, 1)


def group_loss(group_logits: torch.Tensor, group: int) -> torch.Tensor:
    """Cross-entropy of every prediction (per image or per position) against one group id."""
    shape = (group_logits.shape[0], *group_logits.shape[2:])
    target = torch.full(shape, group, dtype=torch.long, device=group_logits.device)
    return F.cross_entropy(group_logits, target)
