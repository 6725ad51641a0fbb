"""SUIT and Label2Image-DA on shifts a generator must learn, in a few hundred CPU steps.

Source: half of scikit-learn's optdigits (white digits on black), labeled. Targets:
the other half, unlabeled, either inverted (black digits on white: SUIT's test) or
with the background raised to grey (+0.5, clipped: Label2Image's). A classifier
trained on the source alone reads 0% and about 11% of them; a generator that
learns the shift gives the classifier target-looking training images with labels.

Label2Image's semantic constraint is the source model T (its phase 1), which must
read the generated target-style images: on the inversion T reads none, so its
test uses the milder shift that a weak T still partly reads (the method's premise,
"a weak T in the target domain"). A three-convolution classifier and narrow
generators keep each test within about 10-20 s on one CPU thread.
"""

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from sklearn.datasets import load_digits
from torch import nn

from harness.data.digits import fit_canvas
from harness.models.base import Backbone, InputNorm
from harness.rounds import Artifacts, RoundContext
from methods.label2image import Label2Image
from methods.source_only import SourceOnly
from methods.suit import SUIT

BATCH = 32


class TinyNet(Backbone):
    """Three stride-2 convolutions and a linear head on 28x28 grey digits."""

    input_norm = InputNorm(mean=(127.5,), std=(127.5,), to_bgr=False)
    output_stride = None
    min_input_size = (28, 28)
    in_channels = 1

    def __init__(self, num_classes: int = 10, pretrained: str | None = None):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
            nn.Linear(32 * 4 * 4, 64), nn.ReLU())
        self.head = nn.Linear(64, num_classes)

    def forward_features(self, x):
        return self.features(x)


@pytest.fixture(scope="module")
def domains():
    digits = load_digits()
    images = fit_canvas(torch.from_numpy(digits.images[:, None] / 16.0).float(), 20, 28)
    labels = torch.from_numpy(digits.target)
    # A random half each: the file cycles through the classes 0..9, so every other
    # image would give one domain the even digits and the other the odd ones.
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    half, rest = order[: len(order) // 2], order[len(order) // 2:]
    source = (images[half], labels[half])
    # Labels only to evaluate.
    inverted = (1.0 - images[rest], labels[rest])
    grey = ((images[rest] + 0.5).clamp(max=1.0), labels[rest])
    return source, inverted, grey


def build(method_cls, hparams: dict):
    torch.manual_seed(0)
    model = method_cls(backbone={"type": TinyNet, "num_classes": 10}, hparams=hparams)
    base = {"type": "OptimWrapper", "optimizer": {"type": "Adam", "lr": 1e-3}}
    return model, build_optim_wrapper(model, method_cls.optim_wrapper_cfg(base, model.hp))


def train(method_cls, domains, steps: int, hparams: dict, built=None):
    """``steps`` training steps of batch 32 from each domain (the harness's loop, in short)."""
    model, wrapper = built or build(method_cls, hparams)
    (xs, ys), (xt, _) = domains
    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        i = torch.randint(len(xs), (BATCH,), generator=g)
        j = torch.randint(len(xt), (BATCH,), generator=g)
        batch = {"source": {"inputs": xs[i], "label": ys[i]}, "target": {"inputs": xt[j]}}
        if method_cls.multi_optimizer:
            model.train_step(batch, wrapper)
        else:
            wrapper.update_params(model.parse_losses(model.loss(batch["source"], None))[0])
    return model.eval()


def accuracy(model, domain) -> float:
    x, y = domain
    with torch.no_grad():
        return float((model.predict(x).argmax(1) == y).float().mean())


def test_suit_learns_the_inversion_and_beats_source_only(domains, one_thread):
    # f = edge maps: an inversion keeps them, so L_con holds the digits' shapes. L_sem is
    # off: with it, G and the jointly trained classifier settle within these steps on a
    # code of their own in the translations (the classifier reads 97% of translated
    # digits and none of the real inverted ones); the adversarial and content terms
    # alone learn the inversion.
    source, inverted, _ = domains
    steps = 160
    source_only = accuracy(train(SourceOnly, (source, inverted), steps, {}), inverted)
    suit = train(SUIT, (source, inverted), steps, {
        "width": 8, "blocks": 1, "disc_width": 16, "disc_layers": 2, "content": "edges",
        "sem_weight": 0.0})
    (xs, _), (xt, _) = source, inverted
    with torch.no_grad():
        translated = suit.translate(xs[:200])
    # The translations' mean intensity moved most of the way to the target's.
    gap = abs(float(xs.mean() - xt.mean()))
    assert abs(float(translated.mean() - xt.mean())) < 0.3 * gap
    adapted = accuracy(suit, inverted)  # 0.39 here, against 0.0
    assert adapted > source_only + 0.2, (source_only, adapted)


def test_label2image_phases_generate_target_pairs_and_beat_source_only(domains, one_thread):
    source, _, grey = domains
    # Phase 1: the source model T (what the harness's source-model cache holds).
    t_steps, generate, adapt = 200, 100, 60
    source_model = train(SourceOnly, (source, grey), t_steps, {})
    # L_sem at 0.3: at the paper's unweighted 1.0 the weak T (11% on the target) pulls G
    # back toward the source images it reads, against D; the pairs are then right more
    # often but less target-like, and T gains less (0.25-0.45 over batch seeds).
    model, wrapper = build(Label2Image, {"width": 16, "disc_width": 16, "disc_layers": 2,
                                         "sem_weight": 0.3})
    model.net.load_state_dict(source_model.net.state_dict())
    # Phases 2 and 3 are rounds 0 and 1, started as the harness's RoundsHook starts them.
    model.on_round_start(RoundContext(0, Artifacts("unused"), {}))
    train(Label2Image, (source, grey), generate, {}, built=(model, wrapper))
    (xs, _), (xt, _) = source, grey
    labels = torch.arange(10).repeat(20)
    with torch.no_grad():
        fake = model.eval().generator(labels, torch.randn(200, 100))
    # G's images moved to the target's intensity statistics (grey background) ...
    assert abs(float(fake.mean() - xt.mean())) < 0.3 * abs(float(xs.mean() - xt.mean()))
    # ... and are images of the digits they were asked for: a classifier trained on
    # labeled target images reads 38% of them (chance: 10%; 10% without L_sem).
    oracle = train(SourceOnly, (grey, grey), 200, {})
    with torch.no_grad():
        assert float((oracle.predict(fake).argmax(1) == labels).float().mean()) > 0.3
    model.on_round_start(RoundContext(1, Artifacts("unused"), {}))
    train(Label2Image, (source, grey), adapt, {}, built=(model, wrapper))
    adapted = accuracy(model, grey)  # 0.57 here
    # The generated pairs lift T, not the extra steps on the source: source-only trained
    # as long reads 0.11 of the grey digits. (On this shift target-looking images with
    # random labels help too, 0.6 with sem_weight 0: the oracle check above is what
    # shows the labels are right.)
    longer = accuracy(train(SourceOnly, (source, grey), t_steps + adapt, {}), grey)
    assert adapted > longer + 0.25, (longer, adapted)
