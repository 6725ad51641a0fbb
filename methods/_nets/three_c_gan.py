"""3C-GAN's generator and discriminator: DCGAN-style networks for any square image side.

The 3C-GAN paper (Li et al., CVPR 2020) does not print its architectures in the text
available to us, and no official code was found; these follow DCGAN (Radford et al.,
ICLR 2016, Sec. 3): transposed 4x4 stride-2 convolutions with batch norm and ReLU in
the generator, tanh output; strided 4x4 convolutions with LeakyReLU(0.2) and batch
norm in the discriminator; weights drawn from N(0, 0.02). The class condition enters
the generator as a one-hot vector concatenated with the noise (Mirza & Osindero 2014).
"""

import torch
import torch.nn.functional as F
from torch import nn


def upsampling_steps(side: int, start_max: int = 8) -> int:
    """Stride-2 stages from a ``start_max``-or-smaller map to ``side`` (28: 7->14->28,
    32: 8->16->32, 224: 7->...->224). Errors for a side that halving cannot reach."""
    steps = 0
    while side % 2 == 0 and side // 2 >= 4 and side > start_max:
        side //= 2
        steps += 1
    if side > start_max:
        raise ValueError(f"image side {side * 2 ** steps} cannot be reached by doubling a "
                         f"map of at most {start_max} pixels; use a side like 28, 32 or 224")
    return steps


def dcgan_init(module: nn.Module) -> None:
    """DCGAN's initialisation (Radford et al. 2016, Sec. 4): N(0, 0.02), batch norm N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class ConditionalGenerator(nn.Module):
    """G(y, z): class id and noise -> image in [0, 1], ``channels`` x ``side`` x ``side``."""

    def __init__(self, num_classes: int, noise_dim: int, channels: int, side: int, width: int):
        super().__init__()
        steps = upsampling_steps(side)
        self.num_classes, self.noise_dim = num_classes, noise_dim
        self.start = side // 2 ** steps
        widths = [width * 2 ** (steps - i) for i in range(steps)]  # e.g. 256, 128 for 2 steps
        self.project = nn.Sequential(
            nn.Linear(noise_dim + num_classes, widths[0] * self.start ** 2, bias=False),
            nn.BatchNorm1d(widths[0] * self.start ** 2), nn.ReLU())
        layers = []
        for c_in, c_out in zip(widths, widths[1:], strict=False):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU()]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        code = torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], dim=1)
        h = self.project(code).view(len(z), -1, self.start, self.start)
        return (self.body(h) + 1) / 2  # tanh -> [0, 1], the harness's float image range


class Discriminator(nn.Module):
    """D(x): normalised image -> one real/fake logit (real = unlabeled target image)."""

    def __init__(self, channels: int, side: int, width: int):
        super().__init__()
        steps = upsampling_steps(side)
        layers, c_in = [], channels
        for i in range(steps):
            c_out = width * 2 ** i
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=i == 0)]
            if i > 0:  # DCGAN: no batch norm on the input layer
                layers += [nn.BatchNorm2d(c_out)]
            layers += [nn.LeakyReLU(0.2)]
            c_in = c_out
        end = side // 2 ** steps
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * end * end, 1))
        dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(1)
