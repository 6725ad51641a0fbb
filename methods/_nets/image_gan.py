"""Image-to-image GAN parts shared by the calibrator, SUIT and Label2Image-DA.

The generator body is CycleGAN's ResNet generator (Zhu et al., ICCV 2017, appendix
7.2; junyanz/pytorch-CycleGAN-and-pix2pix ``ResnetGenerator``): a 7x7 stem, two
stride-2 convolutions, residual blocks, two stride-2 transposed convolutions and a
7x7 output convolution, with instance norm. The discriminator is its 70x70
PatchGAN (``NLayerDiscriminator``). Convolutions carry biases because the instance
norm has no affine part (``use_bias`` in that code).

Label2Image's class-conditional generator for digits is 3C-GAN's DCGAN generator
(``methods/_nets/three_c_gan.py``), not a second copy here.
"""

import torch
import torch.nn.functional as F
from torch import nn


class ResidualBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def resnet_generator_layers(in_channels: int, out_channels: int, width: int,
                            blocks: int) -> list[nn.Module]:
    """CycleGAN's ResNet generator up to its output convolution (no output activation)."""
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7), nn.InstanceNorm2d(width),
              nn.ReLU()]
    for mult in (1, 2):
        layers += [nn.Conv2d(width * mult, width * mult * 2, 3, stride=2, padding=1),
                   nn.InstanceNorm2d(width * mult * 2), nn.ReLU()]
    layers += [ResidualBlock(width * 4) for _ in range(blocks)]
    for mult in (4, 2):
        layers += [nn.ConvTranspose2d(width * mult, width * mult // 2, 3, stride=2,
                                      padding=1, output_padding=1),
                   nn.InstanceNorm2d(width * mult // 2), nn.ReLU()]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7)]
    return layers


def as_unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 (0-255) or float [0, 1] images -> float [0, 1]: the generators' pixel space."""
    return x.float() / 255.0 if x.dtype == torch.uint8 else x


def init_normal(module: nn.Module) -> None:
    """CycleGAN's / DCGAN's init: N(0, 0.02) convolution weights, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


#: The two stride-2 stages of the ResNet generator need sides divisible by 4.
GENERATOR_STRIDE = 4


def run_padded(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` for any side: replicate-pad to a multiple of 4, crop the output back."""
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % GENERATOR_STRIDE, -w % GENERATOR_STRIDE
    if pad_h or pad_w:  # e.g. odd test crops (DeepLab's 321, 513)
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return model(x)[..., :h, :w]


class ImageTranslator(nn.Module):
    """Images in [0, 1] -> images in [0, 1] of the same size (SUIT's one-way generator G).

    It works on pixel values, not on a backbone's normalised input, so a generator
    trained beside one segmentation network can feed another (SUIT's transplant).
    """

    def __init__(self, in_channels: int, out_channels: int, width: int = 64, blocks: int = 9):
        super().__init__()
        self.model = nn.Sequential(*resnet_generator_layers(in_channels, out_channels, width,
                                                            blocks), nn.Tanh())
        init_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # CycleGAN's [-1, 1] image range in and out.
        return (run_padded(self.model, x * 2.0 - 1.0) + 1.0) / 2.0


class PatchDiscriminator(nn.Module):
    """CycleGAN's PatchGAN: one real/fake logit per overlapping patch, [N, 1, h, w].

    ``layers`` = 3 is the 70x70 PatchGAN; small images (28x28 digits) still give a
    1x1 map. Input: images in [0, 1].
    """

    def __init__(self, channels: int, width: int = 64, layers: int = 3):
        super().__init__()
        seq = [nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        mult = 1
        for n in range(1, layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < layers else 1
            seq += [nn.Conv2d(width * prev, width * mult, 4, stride=stride, padding=1),
                    nn.InstanceNorm2d(width * mult), nn.LeakyReLU(0.2)]
        seq += [nn.Conv2d(width * mult, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*seq)
        init_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x * 2.0 - 1.0)


def gan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """The non-saturating GAN loss (Goodfellow et al. 2014): BCE against all-real or all-fake.

    The discriminator maximises E[log D(real)] + E[log(1 - D(fake))] by minimising
    ``gan_loss(D(real), True) + gan_loss(D(fake), False)``; the generator minimises
    ``gan_loss(D(fake), True)`` (the usual stand-in for minimising log(1 - D(G(x)))).
    """
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


class LabelMapGenerator(nn.Module):
    """(label map, noise map) -> an image in [0, 1] of the map's size.

    The label map is one-hot encoded (ignored pixels are all-zero), stacked with
    ``noise_channels`` Gaussian noise channels and fed to CycleGAN's ResNet generator.
    """

    def __init__(self, num_classes: int, noise_channels: int, channels: int,
                 width: int = 64, blocks: int = 9):
        super().__init__()
        self.num_classes, self.noise_channels = num_classes, noise_channels
        self.model = nn.Sequential(*resnet_generator_layers(
            num_classes + noise_channels, channels, width, blocks), nn.Tanh())
        init_normal(self)

    def one_hot(self, labels: torch.Tensor) -> torch.Tensor:
        valid = labels < self.num_classes  # the ignore id (255) has no class
        onehot = F.one_hot(torch.where(valid, labels, 0).long(), self.num_classes)
        return (onehot * valid[..., None]).permute(0, 3, 1, 2).float()

    def forward(self, labels: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.one_hot(labels), noise], 1)
        return (run_padded(self.model, x) + 1.0) / 2.0
