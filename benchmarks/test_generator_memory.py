"""Activation memory of one SUIT training step with DeepLab-v2, per pixel, and at the paper's size.

SUIT keeps four graphs alive for its backward passes: G(x_s), Seg(x_s),
Seg(G(x_s)) (which also gives L_con's features) and D(G(x_s)); D's own step
adds D on a target image and on the detached translation. The benchmark counts
the bytes of every tensor autograd saves for backward (``saved_tensors_hooks``,
each storage once, parameters excluded) in SUIT's forward pass, with the paper's
generator (CycleGAN ResNet, width 64, 9 blocks), the 70x70 PatchGAN and DeepLab-v2
ResNet-101, at two small crops on the CPU. Saved activations grow linearly with
the pixels, so the slope between the two crops is the memory per pixel, and the
line extrapolates to the segmentation protocols' recipe: crop 730 x 730, batch 8
(PLCA's DeepLab-v2 recipe in ``protocols/gta5_cityscapes.toml``, which the
segmentation protocols share). Weights, gradients and optimizer states (Adam for
G and D, SGD with momentum for Seg) are added; the allocator's overhead and
cuDNN workspaces are not, so the total is a lower bound.

    python -m pytest benchmarks/test_generator_memory.py -o addopts=--import-mode=importlib \
        --benchmark-enable -s
"""

import contextlib

import torch
from mmengine.registry import DefaultScope

from harness.registry import MODELS
from methods.suit import SUIT

#: The crops measured (batch 1): small enough for seconds on a CPU, large enough that
#: the fixed part (DeepLab's global pooling, D's last maps) is negligible.
CROPS = (64, 96)
#: The segmentation recipe the estimate is for, and the memory it must fit.
CROP, BATCH, BUDGET_GB = 730, 8, 40.0


def build() -> SUIT:
    with DefaultScope.overwrite_default_scope("harness"):
        MODELS.import_from_location()
        return SUIT(backbone={"type": "deeplabv2_r101", "num_classes": 19})


@contextlib.contextmanager
def counting_saved(model: SUIT):
    """Yields a dict that fills with storage -> bytes of what autograd saves (not weights)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield seen


def saved_bytes(model: SUIT, side: int) -> int:
    """Bytes autograd saves for the backward passes of one SUIT step on one side x side crop."""
    g = torch.Generator().manual_seed(0)
    source = {"inputs": torch.randint(0, 256, (1, 3, side, side), dtype=torch.uint8, generator=g),
              "label": torch.randint(0, 19, (1, side, side), generator=g)}
    target = {"inputs": torch.randint(0, 256, (1, 3, side, side), dtype=torch.uint8, generator=g)}
    with counting_saved(model) as seen:
        _, translated = model.losses_and_translation(source)
        model.discriminator_loss(target, translated)
    return sum(seen.values())


def gan_saved_bytes(model: SUIT, side: int) -> int:
    """What G and D alone save in the same step (G once, D three times)."""
    x = torch.rand(1, 3, side, side)
    with counting_saved(model) as seen:
        translated = model.generator(x)
        for image in (translated, x, translated.detach()):
            model.discriminator(image)
    return sum(seen.values())


def state_bytes(model: SUIT) -> int:
    """Weights + gradients + optimizer states: Adam (2 moments) for G and D, SGD momentum
    for Seg."""
    def size(m):
        return sum(p.numel() * p.element_size() for p in m.parameters())
    return 4 * (size(model.generator) + size(model.discriminator)) + 3 * size(model.net)


def test_suit_deeplab_activation_memory(benchmark):
    torch.manual_seed(0)
    model = build().train()
    small, large = benchmark.pedantic(lambda: [saved_bytes(model, s) for s in CROPS],
                                      rounds=1, iterations=1)
    per_pixel = (large - small) / (CROPS[1] ** 2 - CROPS[0] ** 2)
    fixed = small - per_pixel * CROPS[0] ** 2
    activations = BATCH * (fixed + per_pixel * CROP ** 2)
    total_gb = (activations + state_bytes(model)) / 1e9
    generator_share = gan_saved_bytes(model, CROPS[0]) / small
    per_image = fixed + per_pixel * CROP ** 2
    max_batch = int((BUDGET_GB * 1e9 - state_bytes(model)) // per_image)
    max_crop = int((((BUDGET_GB * 1e9 - state_bytes(model)) / BATCH - fixed) / per_pixel) ** 0.5)
    benchmark.extra_info.update(per_pixel_bytes=round(per_pixel), fixed_bytes=round(fixed),
                                estimate_gb=round(total_gb, 1), fits=total_gb <= BUDGET_GB,
                                generator_share_at_64=round(generator_share, 3),
                                max_batch_at_730=max_batch, max_crop_at_batch_8=max_crop)
    print(f"\nSUIT + DeepLab-v2, fp32: {per_pixel / 1024:.1f} KiB of saved activations per "
          f"pixel (fixed {fixed / 2**20:.1f} MiB); at {CROP}x{CROP}, batch {BATCH}: "
          f"{activations / 1e9:.1f} GB activations + {state_bytes(model) / 1e9:.2f} GB "
          f"weights/gradients/optimizer = {total_gb:.1f} GB "
          f"({'fits' if total_gb <= BUDGET_GB else 'does not fit'} in {BUDGET_GB:.0f} GB); "
          f"the generator and D hold {generator_share:.0%} of the activations. In "
          f"{BUDGET_GB:.0f} GB: batch {max_batch} at {CROP}x{CROP}, or crop {max_crop}x{max_crop} "
          f"at batch {BATCH}")
    assert per_pixel > 0 and abs(fixed) < 0.2 * small  # linear in the pixels, as assumed
