"""Every registered backbone against the contract of ``harness/models/base.py``.

The cases are generated from the ``MODELS`` registry (as timm's tests are from
``list_models``): a new backbone file is tested here without new test code; it only
needs its published parameter count in :data:`PUBLISHED`.
"""

import inspect
from dataclasses import dataclass
from decimal import Decimal

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn

from harness.models.base import Backbone, InputNorm
from harness.registry import MODELS

MODELS.import_from_location()
BACKBONES = sorted(MODELS.module_dict)
BATCH = 1
HEAD_LR_MULT, BASE_LR = 10, 0.01


@dataclass(frozen=True)
class Published:
    """A parameter count in millions as its source writes it: ``"20.6"`` means within
    0.05M (the stated precision), ``"~43"`` (approximate) within one unit of its last digit."""

    millions: str
    num_classes: int
    source: str

    def tolerance(self) -> float:
        exponent = Decimal(self.millions.lstrip("~")).as_tuple().exponent
        return (1.0 if self.millions.startswith("~") else 0.5) * 10.0**exponent


PUBLISHED = {
    "lenet": Published(
        "0.43", 10,
        "CyCADA's released LeNet (cycada/models/task_net.py), 431,080 parameters by its "
        "layers; no paper prints it (the Calibrator's Table 3 'LeNet' is the DTN)",
    ),
    "dtn": Published("3.13", 10, "Calibrator paper (Ye et al. 2020) Table 3, 'LeNet 3.13'"),
    "drn_c26": Published("20.6", 19, "Calibrator paper (Ye et al. 2020) Table 3, 'DRN-26 20.6'"),
    "fcn8s_vgg16": Published(
        "134", 19,
        "Long et al. 2015 Table 1, FCN-VGG16 '134M' (21 VOC classes; 19 remove 9,734)",
    ),
    "deeplabv2_r101": Published(
        "~43", 19,
        "the approximate figure quoted for DeepLab-v2 ResNet-101 on 19 classes; the exact "
        "count is derived from torchvision's ResNet-101 in test_deeplabv2.py",
    ),
    "resnet50": Published(
        "25.557032", 1000,
        "torchvision ResNet50_Weights.IMAGENET1K_V1 num_params (He et al. 2016 Table 1: "
        "ResNet-50)",
    ),
    "vgg16": Published(
        "138.357544", 1000,
        "torchvision VGG16_Weights.IMAGENET1K_V1 num_params (Simonyan & Zisserman 2015 "
        "Table 2: 138M)",
    ),
}


@pytest.fixture(scope="module", params=BACKBONES)
def backbone(request):
    """One backbone built through the registry, once per module (VGG16 and FCN-8s are big)."""
    name = request.param
    if name not in PUBLISHED:
        pytest.fail(f"backbone {name!r}: add its published parameter count to PUBLISHED")
    torch.manual_seed(0)
    model = MODELS.build({"type": name, "num_classes": PUBLISHED[name].num_classes})
    # random head weights, so that logits depend on the features (FCN-8s starts them at zero)
    with torch.no_grad():
        for p in model.head.parameters():
            p.normal_(0, 0.01)
    yield name, model
    model.zero_grad(set_to_none=True)


def test_class_declares_the_contract(backbone):
    name, model = backbone
    cls = MODELS.get(name)
    assert type(model) is cls and issubclass(cls, Backbone)
    params = inspect.signature(cls).parameters
    assert "num_classes" in params and params["pretrained"].default is None

    norm = cls.input_norm
    assert set(norm) == set(InputNorm.__annotations__)
    assert len(norm["mean"]) == len(norm["std"]) and len(norm["mean"]) in (1, model.in_channels)
    assert all(s > 0 for s in norm["std"]) and isinstance(norm["to_bgr"], bool)
    assert not norm["to_bgr"] or model.in_channels == 3
    assert cls.output_stride is None or (
        isinstance(cls.output_stride, int) and cls.output_stride >= 1
    )
    assert len(cls.min_input_size) == 2 and all(
        isinstance(n, int) and n >= 1 for n in cls.min_input_size
    )


def input_and_logit_shapes(model, num_classes):
    """The smallest contract-conforming input and the logit shape the contract promises."""
    height, width = model.min_input_size
    stride = model.output_stride
    if stride is None:
        return (BATCH, model.in_channels, height, width), (BATCH, num_classes)
    # sides k * stride + 1 give k + 1 logits; different k per side catches a transposition
    k = max(1, -(-(max(height, width) - 1) // stride))
    size = (k * stride + 1, (k + 1) * stride + 1)
    return (BATCH, model.in_channels, *size), (BATCH, num_classes, k + 1, k + 2)


def test_forward_backward_and_output_shape(backbone):
    name, model = backbone
    num_classes = PUBLISHED[name].num_classes
    x_shape, logits_shape = input_and_logit_shapes(model, num_classes)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(x_shape, generator=gen)
    # eval mode: dropout would make the two passes differ, and one image is enough
    # for batch norm with running statistics
    model.eval()
    logits = model.classify(model.forward_features(x))
    assert logits.shape == logits_shape
    with torch.no_grad():
        assert torch.equal(model(x), logits)
    labels = torch.randint(num_classes, (logits_shape[0], *logits_shape[2:]), generator=gen)
    F.cross_entropy(logits, labels).backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert not unused, f"{name}: parameters outside the forward pass: {unused[:5]}"
    assert all(p.grad.abs().sum() > 0 for p in model.head.parameters())
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    model.zero_grad(set_to_none=True)


def test_head_alone_gets_the_head_lr_mult(backbone):
    _, model = backbone
    assert sum(p.numel() for p in model.head.parameters()) > 0
    # as the harness's optimizer config: the method holds the backbone as ``net`` and
    # mmengine multiplies the lr of every parameter whose name contains "net.head"
    holder = nn.Module()
    holder.net = model
    constructor = DefaultOptimWrapperConstructor(
        dict(type="OptimWrapper", optimizer=dict(type="SGD", lr=BASE_LR, momentum=0.9)),
        paramwise_cfg=dict(custom_keys={"net.head": dict(lr_mult=HEAD_LR_MULT)}),
    )
    groups = constructor(holder).optimizer.param_groups
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    for n, p in holder.named_parameters():
        expected = BASE_LR * (HEAD_LR_MULT if n.startswith("net.head.") else 1)
        assert lr_of[id(p)] == pytest.approx(expected), n


def test_parameter_count_matches_the_published_figure(backbone):
    name, model = backbone
    published = PUBLISHED[name]
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    figure = float(published.millions.lstrip("~"))
    assert abs(millions - figure) <= published.tolerance(), (
        f"{name}: {millions:.6f}M parameters, {published.millions}M in {published.source}"
    )


def test_published_table_names_only_registered_backbones():
    assert set(PUBLISHED) <= set(BACKBONES)


@pytest.mark.parametrize(
    ("figure", "tolerance"), [("20.6", 0.05), ("134", 0.5), ("~43", 1.0), ("0.43", 0.005)]
)
def test_tolerance_is_the_stated_precision(figure, tolerance):
    assert Published(figure, 1, "").tolerance() == pytest.approx(tolerance)
