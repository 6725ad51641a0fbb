"""Label2Image-DA: label maps, phases as rounds, L_reg, pictures (L_reg's entropy and
VAT terms: tests/losses/test_clustering.py)."""

import numpy as np
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from torch import nn

from harness.config import compile_config
from harness.models.base import IMAGENET_RGB, Backbone
from harness.plan import make_plan
from harness.registry import MODELS
from harness.rounds import Artifacts, RoundContext
from methods._nets.image_gan import LabelMapGenerator
from methods.label2image import Label2Image, Label2ImageReg

SMALL = {"width": 8, "disc_width": 8}


def build(cls=Label2Image, backbone=None, **hparams):
    backbone = backbone or {"type": "lenet", "num_classes": 10, "in_channels": 1}
    with DefaultScope.overwrite_default_scope("harness"):
        MODELS.import_from_location()
        model = cls(backbone=dict(backbone), hparams={**SMALL, **hparams})
        base = {"type": "OptimWrapper", "optimizer": {"type": "Adam", "lr": 1e-3}}
        wrapper = build_optim_wrapper(model, cls.optim_wrapper_cfg(base, model.hp))
    return model, wrapper


def batch(n=8):
    g = torch.Generator().manual_seed(0)
    return {"source": {"inputs": torch.rand(n, 1, 28, 28, generator=g),
                       "label": torch.randint(0, 10, (n,), generator=g)},
            "target": {"inputs": torch.rand(n, 1, 28, 28, generator=g)}}


def start(model, round_idx):
    model.on_round_start(RoundContext(round_idx, Artifacts("unused"), {}))


def test_label_maps_are_one_hot_and_ignored_pixels_are_empty():
    gen = LabelMapGenerator(num_classes=3, noise_channels=2, channels=3, width=4, blocks=1)
    labels = torch.tensor([[[0, 2, 255], [1, 1, 0]]])
    onehot = gen.one_hot(labels)
    assert onehot.shape == (1, 3, 2, 3)
    assert onehot.sum(1).tolist() == [[[1, 1, 0], [1, 1, 1]]]
    assert onehot.argmax(1)[0, 0, :2].tolist() == [0, 2]
    labels = torch.randint(0, 3, (1, 9, 7))  # odd sides: padded and cropped back
    image = gen(labels, torch.randn(1, 2, 9, 7))
    assert image.shape == (1, 3, 9, 7) and 0 <= image.min() and image.max() <= 1


def test_phase_two_trains_the_generator_with_a_frozen_task_model_and_phase_three_the_reverse():
    torch.manual_seed(0)
    model, wrapper = build()
    model.train()
    start(model, 0)
    assert not model.net.training  # T is a fixed semantic constraint in phase 2
    state = {k: v.clone() for k, v in model.state_dict().items()}

    def changed():
        return {k.split(".")[0] for k, v in model.state_dict().items()
                if v.is_floating_point() and not torch.equal(v, state[k])}

    log = model.train_step(batch(), wrapper)
    assert {"loss_g_adv", "loss_g_sem", "loss_d"} <= set(log)
    assert changed() == {"generator", "discriminator"}
    start(model, 1)
    assert model.net.training
    state = {k: v.clone() for k, v in model.state_dict().items()}
    log = model.train_step(batch(), wrapper)
    assert set(log) == {"loss", "loss_source", "loss_generated"}
    assert changed() == {"net"}


def test_the_reg_variant_adds_l_reg_on_target_images_in_phase_three():
    model, wrapper = build(Label2ImageReg)
    assert model.hp.reg_weight == 0.01
    start(model, 1)
    log = model.train_step(batch(), wrapper)
    assert log["loss_reg"] > 0


def test_picture_has_a_row_of_generated_digits_per_class():
    model, _ = build()
    picture = model.pictures()["generated"]
    assert picture.shape == (10 * 30 + 2, 8 * 30 + 2, 3) and picture.dtype.name == "uint8"


class TinyDense(Backbone):
    """Two convolutions and a 1x1 head at stride 2: a segmentation net in milliseconds."""

    input_norm = IMAGENET_RGB
    output_stride = 2
    min_input_size = (8, 8)
    in_channels = 3

    def __init__(self, num_classes: int = 5, pretrained: str | None = None):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                                      nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(8, num_classes, 1)

    def forward_features(self, x):
        return self.features(x)


def test_segmentation_generates_from_label_maps_and_shows_them():
    torch.manual_seed(0)
    model, wrapper = build(backbone={"type": TinyDense, "num_classes": 5}, blocks=1,
                           noise_channels=2, disc_layers=2)
    assert isinstance(model.generator, LabelMapGenerator)
    g = torch.Generator().manual_seed(0)
    label = torch.randint(0, 5, (6, 18, 22), generator=g)
    label[:, :2] = 255  # ignored pixels generate from noise alone
    data = {"source": {"inputs": torch.randint(0, 256, (6, 3, 18, 22), dtype=torch.uint8,
                                               generator=g), "label": label},
            "target": {"inputs": torch.randint(0, 256, (6, 3, 18, 22), dtype=torch.uint8,
                                               generator=g)}}
    model.train()
    start(model, 0)
    log = model.train_step(data, wrapper)
    assert {"loss_g_adv", "loss_g_sem", "loss_d"} <= set(log)
    start(model, 1)
    log = model.train_step(data, wrapper)
    assert {"loss_source", "loss_generated"} <= set(log)
    # Four source images above the images generated from their label maps (18x22 tiles).
    picture = model.pictures()["generated"]
    assert picture.shape == (2 + 2 * 20, 2 + 4 * 24, 3)
    assert np.array_equal(picture[2:20, 2:24], data["source"]["inputs"][0].permute(1, 2, 0))


def test_the_phases_are_two_rounds_of_the_run():
    # Built as harness run builds it: the harness's RoundsHook splits the iterations.
    plan = make_plan("digits_mnist_optdigits", "label2image", None, 0, ["train.iters=10"],
                     quiet=True)
    hooks = [h for h in compile_config(plan).custom_hooks if h["type"] == "RoundsHook"]
    assert len(hooks) == 1 and hooks[0]["rounds"] == 2
    assert Label2Image.needs_source_model  # phase 1: the cached source model
