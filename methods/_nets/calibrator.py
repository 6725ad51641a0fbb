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
    """ResNet generator -> perturbation with every entry in [-epsilon, epsilon].

    ``width`` is the official ``CALI_WIDTH_FACTOR`` (ngf) and ``blocks`` the
    number of residual blocks (``ARCH: resnet_9``); the body is CycleGAN's ResNet
    generator (``methods/_nets/image_gan.py``), as in the official backbones.py.
    The official output is ``tanh`` then dropout 0.05, mapped by
    ``(p + 1) / 2`` and clamped to [0, epsilon] (models/calibrator.py), which
    only brightens and has no gradient where clamped; here ``epsilon * tanh``
    spans the symmetric ball with a gradient everywhere, and a final clamp
    keeps the dropout's 1/0.95 rescaling inside it.
    """

    def __init__(self, channels: int, epsilon: float, width: int = 8, blocks: int = 9,
                 dropout: float = 0.05):
        super().__init__()
        self.epsilon = epsilon
        self.model = nn.Sequential(*resnet_generator_layers(channels, channels, width, blocks),
                                   nn.Tanh(), nn.Dropout(dropout))
        init_normal(self)  # official init: N(0, 0.02) weights, zero biases (init_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        delta = self.epsilon * run_padded(self.model, z)
        return delta.clamp(-self.epsilon, self.epsilon)


class PixelDiscriminator(nn.Module):
    """Two FC layers on one random patch whose pixels are randomly shuffled (paper, Sec. 3).

    As in the official ``PixelDiscriminator``, the patch is one cell of the
    non-overlapping ``patch`` x ``patch`` grid, drawn once per call for the
    whole batch, and one spatial permutation is applied to every image; both
    keep the discriminator from over-fitting to image layout.
    """

    def __init__(self, channels: int, patch: int = 4, hidden: int = 128):
        super().__init__()
        self.patch = patch
        self.classifier = nn.Sequential(
            nn.Linear(patch * patch * channels, hidden), nn.ReLU(), nn.Linear(hidden, GROUPS),
        )

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
    """Two FC layers on the classifier's softmax output (paper, Sec. 3: "only two fully
    connected layers"; the official one adds a third, 1000-500-4, on the same softmax).

    Dense logits (N, C, H, W) are classified per position, image logits (N, C) per image.
    """

    def __init__(self, num_classes: int, hidden: int = 500):
        super().__init__()
        self.classifier = nn.Sequential(
            nn.Linear(num_classes, hidden), nn.ReLU(), nn.Linear(hidden, GROUPS),
        )

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return self.classifier(logits.softmax(1).movedim(1, -1)).movedim(-1, 1)


def group_loss(group_logits: torch.Tensor, group: int) -> torch.Tensor:
    """Cross-entropy of every prediction (per image or per position) against one group id."""
    shape = (group_logits.shape[0], *group_logits.shape[2:])
    target = torch.full(shape, group, dtype=torch.long, device=group_logits.device)
    return F.cross_entropy(group_logits, target)
