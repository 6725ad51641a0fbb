"""Simulated cameras against scikit-image / numpy, written independently of the module."""

import math

import numpy as np
import PIL.Image
import pytest
import torch
from skimage import color
from torchvision import tv_tensors
from torchvision.transforms import v2

from harness.registry import TRANSFORMS
from harness.transforms.simcam import (
    SIMULATED_CAMERAS,
    ColorRotation,
    PowerCamera,
    lab_rotate,
    lab_to_rgb,
    power_camera,
    rgb_to_lab,
)

# float64 follows scikit-image's formulas step for step: only rounding differs.
F64_ATOL = 1e-10
# float32 against the float64 reference: Lab units (L spans 0..100) and RGB in [0, 1].
F32_LAB_ATOL, F32_RGB_ATOL = 2e-4, 5e-5
# rgb -> lab -> rgb at 0 degrees in float32 (measured 4.5e-6); no special case for 0.
ROUND_TRIP_ATOL = 1e-5


def _random_images(*shape, dtype=torch.float64, seed=0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _hwc(img: torch.Tensor) -> np.ndarray:
    return img.movedim(-3, -1).double().numpy()


def _chw(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(arr).movedim(-1, -3)


def reference_lab_rotate(rgb_hwc: np.ndarray, degrees: float) -> np.ndarray:
    """Seed 003 §5.0.1 with scikit-image: rotate (a, b), trim to [-128, 128], back to sRGB."""
    lab = color.rgb2lab(rgb_hwc)
    theta = np.radians(degrees)
    a, b = lab[..., 1].copy(), lab[..., 2].copy()
    lab[..., 1] = np.clip(a * np.cos(theta) - b * np.sin(theta), -128, 128)
    lab[..., 2] = np.clip(a * np.sin(theta) + b * np.cos(theta), -128, 128)
    return color.lab2rgb(lab)


def _lab_from_skimage(lab_rows) -> torch.Tensor:
    """Lab triples -> sRGB [3, 1, N] tensor via scikit-image (colours chosen in gamut)."""
    return _chw(color.lab2rgb(np.asarray(lab_rows, dtype=np.float64)[None]))


# --- conversions --------------------------------------------------------------------------


def test_rgb_to_lab_matches_skimage_float64():
    x = _random_images(2, 3, 16, 16)
    np.testing.assert_allclose(_hwc(rgb_to_lab(x)), color.rgb2lab(_hwc(x)), atol=F64_ATOL)


def test_rgb_to_lab_matches_skimage_float32():
    x = _random_images(2, 3, 16, 16, dtype=torch.float32)
    out = rgb_to_lab(x)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(_hwc(out), color.rgb2lab(_hwc(x)), atol=F32_LAB_ATOL)


def test_lab_to_rgb_matches_skimage_including_out_of_gamut():
    # L in [0, 100], a and b over the whole trimmed range: many colours need clipping
    gen = torch.Generator().manual_seed(1)
    lab = torch.rand(3, 24, 24, generator=gen, dtype=torch.float64)
    lab = lab * torch.tensor([100.0, 256.0, 256.0]).view(3, 1, 1) - torch.tensor(
        [0.0, 128.0, 128.0]
    ).view(3, 1, 1)
    np.testing.assert_allclose(_hwc(lab_to_rgb(lab)), color.lab2rgb(_hwc(lab)), atol=F64_ATOL)


def test_hand_computed_lab_of_white_black_and_grey():
    # D65 white is L=100, black L=0, sRGB 0.5 grey L=53.389 (CIE formula); greys are
    # neutral up to 5e-3 because the 6-digit sRGB matrix rows miss the D65 white slightly
    rgb = torch.tensor([[1.0, 0.0, 0.5]] * 3, dtype=torch.float64).view(3, 1, 3)
    lab = rgb_to_lab(rgb)
    np.testing.assert_allclose(lab[0, 0].numpy(), [100.0, 0.0, 53.3890], atol=1e-3)
    np.testing.assert_allclose(lab[1:].numpy(), 0.0, atol=5e-3)


# --- colour rotation ----------------------------------------------------------------------


@pytest.mark.parametrize("degrees", [150.0, 50.0, -75.0, 233.7])
def test_rotation_matches_skimage_pipeline_float64(degrees):
    x = _random_images(2, 3, 20, 20, seed=2)
    np.testing.assert_allclose(
        _hwc(lab_rotate(x, degrees)), reference_lab_rotate(_hwc(x), degrees), atol=F64_ATOL
    )


def test_rotation_matches_skimage_pipeline_float32():
    x = _random_images(2, 3, 20, 20, dtype=torch.float32, seed=3)
    out = lab_rotate(x, 150.0)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(_hwc(out), reference_lab_rotate(_hwc(x), 150.0), atol=F32_RGB_ATOL)


def test_rotation_direction_is_counter_clockwise_from_a_towards_b():
    # (L, a, b) = (50, 20, 0) turned by +90 degrees lands on (50, 0, 20)
    rgb = _lab_from_skimage([[50.0, 20.0, 0.0]])
    turned = rgb_to_lab(lab_rotate(rgb, 90.0))
    np.testing.assert_allclose(turned[:, 0, 0].numpy(), [50.0, 0.0, 20.0], atol=1e-8)


def test_rotation_trims_ab_to_128():
    # pure blue has chroma 133.8 (> 128): turned onto the +a axis, a must be trimmed to 128
    blue = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).view(3, 1, 1)
    L, a, b = color.rgb2lab(_hwc(blue))[0, 0]
    onto_a_axis = -math.degrees(math.atan2(b, a))
    trimmed = color.lab2rgb(np.array([[[L, 128.0, 0.0]]]))
    untrimmed = color.lab2rgb(np.array([[[L, math.hypot(a, b), 0.0]]]))
    assert np.abs(trimmed - untrimmed).max() > 0.02  # the trim is visible in RGB
    np.testing.assert_allclose(_hwc(lab_rotate(blue, onto_a_axis)), trimmed, atol=1e-8)


def test_rotation_keeps_lightness_and_chroma_in_gamut():
    rgb = _lab_from_skimage([[60.0, 10.0, -5.0], [40.0, -8.0, 12.0]])
    before, after = rgb_to_lab(rgb), rgb_to_lab(lab_rotate(rgb, 150.0))
    np.testing.assert_allclose(after[0].numpy(), before[0].numpy(), atol=1e-8)
    np.testing.assert_allclose(
        after[1:].norm(dim=0).numpy(), before[1:].norm(dim=0).numpy(), atol=1e-8
    )


def _low_chroma_images() -> torch.Tensor:
    """sRGB images whose colours stay inside the gamut under every hue rotation."""
    gen = torch.Generator().manual_seed(4)
    n = 200
    L = 35 + 30 * torch.rand(n, generator=gen, dtype=torch.float64)
    chroma = 15 * torch.rand(n, generator=gen, dtype=torch.float64)
    hue = 2 * math.pi * torch.rand(n, generator=gen, dtype=torch.float64)
    lab = torch.stack((L, chroma * hue.cos(), chroma * hue.sin()), dim=-1)
    return _lab_from_skimage(lab.numpy())


@pytest.mark.parametrize(("first", "second"), [(150.0, 50.0), (-30.0, 100.0), (200.0, 200.0)])
def test_rotations_compose_in_gamut(first, second):
    x = _low_chroma_images()
    twice = lab_rotate(lab_rotate(x, first), second)
    torch.testing.assert_close(twice, lab_rotate(x, first + second), atol=1e-8, rtol=0)


def test_zero_and_full_turn_are_identity_within_round_trip_float32():
    x = _random_images(2, 3, 32, 32, dtype=torch.float32, seed=5)
    for degrees in (0.0, 360.0, -720.0):
        torch.testing.assert_close(lab_rotate(x, degrees), x, atol=ROUND_TRIP_ATOL, rtol=0)


def test_zero_degrees_is_bit_exact_on_uint8_colours():
    # every third level of each channel (86**3 colours, 0 and 255 included); the full
    # 256**3 cube also round-trips exactly but takes seconds
    levels = torch.arange(0, 256, 3, dtype=torch.uint8)
    cube = torch.stack(torch.meshgrid(levels, levels, levels, indexing="ij")).reshape(3, 86, -1)
    assert torch.equal(lab_rotate(cube, 0.0), cube)


# --- power function -----------------------------------------------------------------------


def test_power_matches_numpy_float64_and_float32():
    exponents = np.array([0.2, 0.3, 0.4]).reshape(3, 1, 1)
    for dtype, atol in ((torch.float64, 0.0), (torch.float32, 1e-6)):
        x = _random_images(2, 3, 8, 8, dtype=dtype, seed=6)
        expected = np.power(x.double().numpy(), exponents)
        np.testing.assert_allclose(power_camera(x, (0.2, 0.3, 0.4)).numpy(), expected, atol=atol)


def test_power_exponent_one_is_bit_exact():
    x = _random_images(3, 8, 8, dtype=torch.float32, seed=7)
    assert torch.equal(power_camera(x, (1.0, 1.0, 1.0)), x)


def test_power_on_uint8_leaves_120_levels_in_red_as_the_paper_counts():
    # Seed 003 §5.0.2: after x ** 0.2, 120 of 256 uint8 values remain
    ramp = torch.arange(256, dtype=torch.uint8).view(1, 1, 256).expand(3, 1, 256)
    out = power_camera(ramp, (0.2, 0.3, 0.4))
    assert out.dtype == torch.uint8
    expected = np.round(np.power(np.arange(256) / 255.0, 0.2) * 255)
    np.testing.assert_array_equal(out[0, 0].numpy(), expected)
    assert out[0].unique().numel() == 120


# --- dtypes, shapes and devices -----------------------------------------------------------


def test_uint8_rotation_matches_rounded_skimage():
    x = (_random_images(3, 16, 16, seed=8) * 255).round().to(torch.uint8)
    out = lab_rotate(x, 150.0)
    expected = np.round(reference_lab_rotate(_hwc(x) / 255, 150.0) * 255)
    assert out.dtype == torch.uint8
    # float32 compute may land the other side of a .5 rounding boundary
    assert np.abs(_hwc(out) - expected).max() <= 1
    assert (_hwc(out) == expected).mean() > 0.99


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_types_keep_their_dtype(dtype):
    x = _random_images(3, 8, 8, seed=9).to(dtype)
    out = lab_rotate(x, 150.0)
    assert out.dtype == dtype
    expected = reference_lab_rotate(_hwc(x), 150.0)
    np.testing.assert_allclose(_hwc(out), expected, atol=1e-2)


@pytest.mark.parametrize(
    "camera", [lambda x: lab_rotate(x, 150.0), lambda x: power_camera(x, (0.2, 0.3, 0.4))]
)
def test_batched_equals_single_images_and_extra_leading_dims(camera):
    x = _random_images(2, 2, 3, 12, 12, dtype=torch.float32, seed=10)
    batched = camera(x)
    assert batched.shape == x.shape
    for i in range(2):
        for j in range(2):
            torch.testing.assert_close(batched[i, j], camera(x[i, j]), atol=1e-6, rtol=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    x = _random_images(4, 3, 32, 32, dtype=torch.float32, seed=11)
    for camera in SIMULATED_CAMERAS.values():
        out = camera()(x.cuda())
        assert out.is_cuda
        torch.testing.assert_close(out.cpu(), camera()(x), atol=1e-5, rtol=0)


def test_bad_inputs_raise_errors_naming_value_and_fix():
    with pytest.raises(ValueError, match=r"\[\.\.\., 3, H, W\], got shape \(8, 8, 3\)"):
        lab_rotate(torch.rand(8, 8, 3), 150.0)
    with pytest.raises(ValueError, match=r"values in \[-0\.5, 1\].*clamp"):
        power_camera(torch.tensor([-0.5, 0.2, 1.0]).view(3, 1, 1), (0.2, 0.3, 0.4))
    with pytest.raises(ValueError, match="values in"):
        lab_rotate(torch.full((3, 2, 2), float("nan")), 150.0)
    with pytest.raises(TypeError, match="torch.int16.*uint8"):
        lab_rotate(torch.zeros(3, 2, 2, dtype=torch.int16), 150.0)
    with pytest.raises(ValueError, match=r"three positive.*got \(0\.2, 0\.0, 0\.4\)"):
        PowerCamera((0.2, 0.0, 0.4))
    with pytest.raises(ValueError, match="three positive"):
        power_camera(torch.rand(3, 2, 2), (0.2, 0.3))
    with pytest.raises(ValueError, match="finite.*got inf"):
        ColorRotation(float("inf"))


# --- transforms and registry --------------------------------------------------------------


def test_paper_cameras_and_registry():
    assert SIMULATED_CAMERAS["rotation"]().degrees == 150.0
    assert SIMULATED_CAMERAS["power"]().exponents == (0.2, 0.3, 0.4)
    built = TRANSFORMS.build(dict(type="ColorRotation", degrees=50.0))
    assert isinstance(built, ColorRotation) and built.degrees == 50.0
    assert isinstance(TRANSFORMS.build(dict(type="PowerCamera")), PowerCamera)


def test_transform_is_deterministic_and_equals_functional_form():
    x = _random_images(2, 3, 16, 16, dtype=torch.float32, seed=12)
    rotation = ColorRotation()
    assert torch.equal(rotation(x), rotation(x))
    assert torch.equal(rotation(x), lab_rotate(x, 150.0))
    assert torch.equal(PowerCamera()(x), power_camera(x, (0.2, 0.3, 0.4)))


def test_transform_recolours_images_only_and_keeps_types():
    image = tv_tensors.Image((_random_images(3, 8, 8, seed=13) * 255).to(torch.uint8))
    mask = tv_tensors.Mask(torch.ones(8, 8, dtype=torch.int64))
    pipeline = v2.Compose([v2.RandomHorizontalFlip(p=0.0), PowerCamera()])
    sample = pipeline({"image": image, "mask": mask, "label": 3})
    assert isinstance(sample["image"], tv_tensors.Image)
    assert torch.equal(
        sample["image"], power_camera(image.as_subclass(torch.Tensor), (0.2, 0.3, 0.4))
    )
    assert torch.equal(sample["mask"], mask) and sample["label"] == 3


def test_transform_accepts_pil_images():
    arr = (_random_images(8, 8, 3, seed=14) * 255).to(torch.uint8).numpy()
    out = ColorRotation()(PIL.Image.fromarray(arr))
    assert isinstance(out, PIL.Image.Image)
    expected = lab_rotate(torch.from_numpy(arr).movedim(-1, 0), 150.0).movedim(0, -1)
    np.testing.assert_array_equal(np.asarray(out), expected.numpy())
