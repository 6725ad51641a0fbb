"""Simulated cameras of AdapterNet (seed 003, §5): CIELAB colour rotation and a power function.

Both act on RGB images laid out ``[..., 3, H, W]`` (torchvision's convention),
float in ``[0, 1]`` or uint8. They are pure tensor ops, so the same code runs
batched on CPU or GPU. The colour conversions follow scikit-image's
``rgb2lab``/``lab2rgb`` (sRGB companding, D65 white, 2-degree observer) constant
for constant, so a result can be checked against that library.

Integer images come back as the same dtype, rounded to nearest: the paper
stored its cameras as 8-bit images and its count of 120 distinct values after
``x ** 0.2`` (§5.0.2) is what rounding gives.
"""

import math
from collections.abc import Callable, Sequence
from types import MappingProxyType

import PIL.Image
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import Transform
from torchvision.transforms.v2 import functional as F

from harness.registry import TRANSFORMS

# Seed 003 §5.0.1: "rotate at an angle of 150 degrees". The paper names no direction; we turn
# counter-clockwise, from +a towards +b, so the hue angle atan2(b, a) grows by this much.
PAPER_ROTATION_DEGREES = 150.0
# Seed 003 §5.0.2: R^0.2, G^0.3, B^0.4.
PAPER_POWER_EXPONENTS = (0.2, 0.3, 0.4)
# Seed 003 §5.0.1: rotated values beyond the Lab range ("e.g., b>128") are trimmed.
AB_LIMIT = 128.0

# sRGB primaries to XYZ, as scikit-image ``skimage/color/colorconv.py`` (``xyz_from_rgb``).
XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
# D65 white, 2-degree observer, scikit-image ``_illuminants["D65"]["2"]``.
D65_WHITE = (0.95047, 1.0, 1.08883)
# sRGB companding, IEC 61966-2-1 (thresholds as scikit-image ``rgb2xyz``/``xyz2rgb``).
SRGB_DECODE_KNEE, SRGB_ENCODE_KNEE = 0.04045, 0.0031308
SRGB_LINEAR_SLOPE, SRGB_GAMMA, SRGB_OFFSET = 12.92, 2.4, 0.055
# CIE L*a*b* f(t) pieces with the constants scikit-image ``xyz2lab``/``_lab2xyz`` use.
LAB_EPSILON, LAB_KAPPA, LAB_F_KNEE = 0.008856, 7.787, 0.2068966
LAB_OFFSET = 16.0 / 116.0

_CHANNEL_DIM = -3
_RGB_FROM_XYZ = torch.linalg.inv(torch.tensor(XYZ_FROM_RGB, dtype=torch.float64))


def _channel_matrix(matrix: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
    """Apply a 3x3 colour matrix to the channel dimension of ``[..., 3, H, W]``."""
    return torch.einsum("ij,...jhw->...ihw", matrix, img)


def _per_channel(values: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(3, 1, 1)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB float ``[..., 3, H, W]`` in ``[0, 1]`` -> CIE L*a*b* (L in [0, 100])."""
    linear = torch.where(
        rgb > SRGB_DECODE_KNEE,
        ((rgb + SRGB_OFFSET) / (1 + SRGB_OFFSET)).pow(SRGB_GAMMA),
        rgb / SRGB_LINEAR_SLOPE,
    )
    xyz = _channel_matrix(torch.tensor(XYZ_FROM_RGB, dtype=rgb.dtype, device=rgb.device), linear)
    t = xyz / _per_channel(D65_WHITE, xyz)
    # clamp_min keeps the unused cube-root branch finite for t <= 0
    f = torch.where(
        t > LAB_EPSILON, t.clamp_min(LAB_EPSILON).pow(1 / 3), LAB_KAPPA * t + LAB_OFFSET
    )
    fx, fy, fz = f.unbind(_CHANNEL_DIM)
    return torch.stack((116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)), dim=_CHANNEL_DIM)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE L*a*b* ``[..., 3, H, W]`` -> sRGB in ``[0, 1]``, out-of-gamut colours clipped.

    Like scikit-image ``lab2rgb``: a negative Z is set to 0 and the RGB result is
    clipped to ``[0, 1]``.
    """
    L, a, b = lab.unbind(_CHANNEL_DIM)
    fy = (L + 16) / 116
    f = torch.stack((fy + a / 500, fy, (fy - b / 200).clamp_min(0)), dim=_CHANNEL_DIM)
    t = torch.where(f > LAB_F_KNEE, f.pow(3), (f - LAB_OFFSET) / LAB_KAPPA)
    xyz = t * _per_channel(D65_WHITE, t)
    linear = _channel_matrix(_RGB_FROM_XYZ.to(lab.device, lab.dtype), xyz)
    rgb = torch.where(
        linear > SRGB_ENCODE_KNEE,
        (1 + SRGB_OFFSET) * linear.clamp_min(SRGB_ENCODE_KNEE).pow(1 / SRGB_GAMMA) - SRGB_OFFSET,
        linear * SRGB_LINEAR_SLOPE,
    )
    return rgb.clamp(0, 1)


def _rotate_ab(rgb: torch.Tensor, degrees: float) -> torch.Tensor:
    L, a, b = rgb_to_lab(rgb).unbind(_CHANNEL_DIM)
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    rotated_a = (a * cos - b * sin).clamp(-AB_LIMIT, AB_LIMIT)
    rotated_b = (a * sin + b * cos).clamp(-AB_LIMIT, AB_LIMIT)
    return lab_to_rgb(torch.stack((L, rotated_a, rotated_b), dim=_CHANNEL_DIM))


def _power(rgb: torch.Tensor, exponents: Sequence[float]) -> torch.Tensor:
    return rgb.pow(_per_channel(exponents, rgb))


def _on_unit_float(
    name: str, img: torch.Tensor, fn: Callable[..., torch.Tensor], *args
) -> torch.Tensor:
    """Run ``fn`` on ``img`` as float in [0, 1] and return the input's dtype.

    uint8 is scaled by 255 and rounded back; half types compute in float32
    because the Lab cube roots lose too much precision in 16 bits.
    """
    if not isinstance(img, torch.Tensor):
        raise TypeError(
            f"{name}: expected a torch.Tensor image, got {type(img).__name__}; "
            "convert it with torchvision.transforms.v2.functional.pil_to_tensor"
        )
    if img.ndim < 3 or img.shape[_CHANNEL_DIM] != 3:
        raise ValueError(
            f"{name}: expected an RGB image shaped [..., 3, H, W], got shape {tuple(img.shape)}; "
            "put channels before height and width and convert grey images to 3 channels"
        )
    if img.dtype == torch.uint8:
        out = fn(img.to(torch.float32) / 255, *args)
        return out.mul(255).round_().to(torch.uint8)
    if not img.is_floating_point():
        raise TypeError(
            f"{name}: unsupported dtype {img.dtype}; pass uint8 or a float image in [0, 1]"
        )
    if img.numel():
        lo, hi = torch.aminmax(img)
        if not (lo >= 0 and hi <= 1):
            raise ValueError(
                f"{name}: float images must lie in [0, 1], got values in "
                f"[{lo.item():.4g}, {hi.item():.4g}]; apply the camera before normalisation "
                "and clamp resampled images to [0, 1]"
            )
    compute = torch.float32 if img.dtype in (torch.float16, torch.bfloat16) else img.dtype
    return fn(img.to(compute), *args).to(img.dtype)


def _check_exponents(exponents: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(e) for e in exponents)
    if len(values) != 3 or not all(math.isfinite(e) and e > 0 for e in values):
        raise ValueError(
            f"power camera: exponents must be three positive finite numbers (R, G, B), "
            f"got {tuple(exponents)}; the paper uses {PAPER_POWER_EXPONENTS}"
        )
    return values


def _check_degrees(degrees: float) -> float:
    if not math.isfinite(degrees):
        raise ValueError(
            f"colour rotation: degrees must be a finite number, got {degrees}; "
            f"the paper uses {PAPER_ROTATION_DEGREES}"
        )
    return float(degrees)


def lab_rotate(img: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate every pixel's (a, b) in CIELAB by ``degrees`` counter-clockwise, keeping L.

    a and b are trimmed to ``[-128, 128]`` after rotating (§5.0.1), colours outside
    the sRGB gamut are clipped on the way back. No special case at 0 degrees: the
    float32 round trip is within 1e-5 (float64: 1e-13), and uint8 images come back
    bit-identical.
    """
    return _on_unit_float("lab_rotate", img, _rotate_ab, _check_degrees(degrees))


def power_camera(img: torch.Tensor, exponents: Sequence[float]) -> torch.Tensor:
    """Raise R, G and B to their own exponents on ``[0, 1]`` (§5.0.2)."""
    return _on_unit_float("power_camera", img, _power, _check_exponents(exponents))


def _is_plain_tensor(inpt) -> bool:
    return isinstance(inpt, torch.Tensor) and not isinstance(inpt, tv_tensors.TVTensor)


# Only images are recoloured; boxes, masks and labels in the same sample pass through
# (a plain tensor counts as the image when the sample has no explicit one, as in torchvision).
_IMAGE_TYPES = (_is_plain_tensor, tv_tensors.Image, PIL.Image.Image)


def _apply_to_image(camera: Callable[[torch.Tensor], torch.Tensor], inpt):
    """Apply a tensor camera to a pure tensor, a ``tv_tensors.Image`` or a PIL image."""
    if isinstance(inpt, PIL.Image.Image):
        return F.to_pil_image(camera(F.pil_to_tensor(inpt.convert("RGB"))))
    out = camera(inpt.as_subclass(torch.Tensor))
    return tv_tensors.wrap(out, like=inpt) if isinstance(inpt, tv_tensors.Image) else out


@TRANSFORMS.register_module()
class ColorRotation(Transform):
    """Seed 003 §5.0.1 camera: (a, b) rotated by ``degrees`` in CIELAB."""

    _transformed_types = _IMAGE_TYPES

    def __init__(self, degrees: float = PAPER_ROTATION_DEGREES) -> None:
        super().__init__()
        self.degrees = _check_degrees(degrees)

    def transform(self, inpt, params):
        return _apply_to_image(lambda img: lab_rotate(img, self.degrees), inpt)


@TRANSFORMS.register_module()
class PowerCamera(Transform):
    """Seed 003 §5.0.2 camera: per-channel power ``(R^e_r, G^e_g, B^e_b)``."""

    _transformed_types = _IMAGE_TYPES

    def __init__(self, exponents: Sequence[float] = PAPER_POWER_EXPONENTS) -> None:
        super().__init__()
        self.exponents = _check_exponents(exponents)

    def transform(self, inpt, params):
        return _apply_to_image(lambda img: power_camera(img, self.exponents), inpt)


# Camera name -> factory; called without arguments each gives the paper's camera.
SIMULATED_CAMERAS: MappingProxyType[str, Callable[[], Transform]] = MappingProxyType(
    {"rotation": ColorRotation, "power": PowerCamera}
)
