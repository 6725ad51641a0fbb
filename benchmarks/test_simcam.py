"""Simulated cameras on CPU: images/s at 224x224, ours (torch) beside scikit-image / numpy.

Each camera is one benchmark group, so pytest-benchmark prints the two rows side by
side with their ratio in parentheses. Both sides take the same batch of uint8 images
in their native layout (torch [N, 3, H, W], scikit-image [N, H, W, 3]) and return uint8.
torch runs on one thread, as it does inside DataLoader workers where these transforms
run, and as numpy and scikit-image do.

    python -m pytest benchmarks/test_simcam.py --benchmark-enable
"""

import numpy as np
import pytest
import torch
from skimage import color

from harness.transforms.simcam import (
    PAPER_POWER_EXPONENTS,
    PAPER_ROTATION_DEGREES,
    ColorRotation,
    PowerCamera,
)

BATCH, SIZE = 8, 224


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def batch_chw() -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (BATCH, 3, SIZE, SIZE), dtype=torch.uint8, generator=gen)


@pytest.fixture(scope="module")
def batch_hwc(batch_chw) -> np.ndarray:
    return np.ascontiguousarray(batch_chw.movedim(1, -1).numpy())


def _skimage_rotation(images: np.ndarray) -> np.ndarray:
    lab = color.rgb2lab(images)
    theta = np.radians(PAPER_ROTATION_DEGREES)
    ab = lab[..., 1:] @ np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
    lab[..., 1:] = np.clip(ab, -128, 128)
    return np.round(color.lab2rgb(lab) * 255).astype(np.uint8)


def _numpy_power(images: np.ndarray) -> np.ndarray:
    return np.round(np.power(images / 255.0, PAPER_POWER_EXPONENTS) * 255).astype(np.uint8)


def _record(benchmark) -> None:
    benchmark.extra_info["images_per_s"] = BATCH / benchmark.stats.stats.mean


@pytest.mark.benchmark(group="simcam-rotation-224")
def test_rotation_torch(benchmark, batch_chw):
    benchmark(ColorRotation(), batch_chw)
    _record(benchmark)


@pytest.mark.benchmark(group="simcam-rotation-224")
def test_rotation_skimage(benchmark, batch_hwc):
    benchmark(_skimage_rotation, batch_hwc)
    _record(benchmark)


@pytest.mark.benchmark(group="simcam-power-224")
def test_power_torch(benchmark, batch_chw):
    benchmark(PowerCamera(), batch_chw)
    _record(benchmark)


@pytest.mark.benchmark(group="simcam-power-224")
def test_power_numpy(benchmark, batch_hwc):
    benchmark(_numpy_power, batch_hwc)
    _record(benchmark)
