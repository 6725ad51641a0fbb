import math

import pytest
import torch
import torch.nn.functional as F
import torchvision

from harness.models.deeplabv2 import DeepLabV2ResNet101

CLASSES = 19
RATES = (6, 12, 18, 24)
# PLCA model/resnet.py with replace_stride_with_dilation=[False, True, True]:
# (stride of the stage's first 1x1 conv, dilation of every 3x3 conv) per stage.
PLCA_STAGES = {"layer1": (1, 1), "layer2": (2, 1), "layer3": (1, 2), "layer4": (1, 4)}
PLCA_IMG_MEAN_BGR = (104.00698793, 116.66876762, 122.67891434)  # PLCA tools/train.py


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DeepLabV2ResNet101(CLASSES).eval()


@pytest.fixture(scope="module")
def torchvision_resnet101():
    torch.manual_seed(1)
    return torchvision.models.resnet101()


def test_parameter_count(model, torchvision_resnet101):
    # the published ~43M is checked for every backbone in test_backbones.py; the papers'
    # heads differ by a bias (PLCA: none, AdaptSegNet: 4 x 19)
    n = sum(p.numel() for p in model.parameters())
    backbone = sum(p.numel() for p in torchvision_resnet101.parameters()) - (2048 * 1000 + 1000)
    assert n == backbone + len(RATES) * 2048 * CLASSES * 3 * 3 == 43_900_992


def test_output_size_with_ceil_mode_pooling(model):
    # 32x40: even sizes, where max pooling's ceil_mode changes the result
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 32, 40))

    def out_size(n):  # conv1 (stride 2), max pool rounding up, layer2 (stride 2)
        n = (n - 1) // 2 + 1
        n = math.ceil((n - 1) / 2) + 1
        return (n - 1) // 2 + 1

    assert logits.shape == (1, CLASSES, out_size(32), out_size(40)) == (1, CLASSES, 5, 6)


def test_backbone_follows_plca(model):
    assert model.maxpool.ceil_mode
    for name, (stride, dilation) in PLCA_STAGES.items():
        for b, block in enumerate(getattr(model, name)):
            assert block.conv1.stride == ((stride, stride) if b == 0 else (1, 1)), (name, b)
            assert block.conv2.stride == (1, 1)
            assert block.conv2.dilation == block.conv2.padding == (dilation, dilation), (name, b)
        assert getattr(model, name)[0].downsample[0].stride == (stride, stride)
    assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == [3, 4, 23, 3]


def test_head_sums_four_dilated_branches(model):
    features = torch.randn(1, 2048, 7, 7)
    with torch.no_grad():
        expected = sum(
            F.conv2d(features, branch.weight, padding=r, dilation=r)
            for branch, r in zip(model.head.branches, RATES, strict=True)
        )
        assert torch.allclose(model.classify(features), expected, atol=1e-5)
    assert all(branch.bias is None for branch in model.head.branches)


def test_input_norm_is_plca_caffe_bgr():
    norm = DeepLabV2ResNet101.input_norm
    assert norm["to_bgr"] and norm["mean"] == PLCA_IMG_MEAN_BGR and norm["std"] == (1, 1, 1)


def assert_backbone_equal(model, reference_state):
    own = model.state_dict()
    keys = [k for k in reference_state if not k.startswith("fc.") and "num_batches" not in k]
    assert len(keys) == len(
        [k for k in own if not k.startswith("head.") and "num_batches" not in k]
    )
    for key in keys:
        assert torch.equal(own[key], reference_state[key]), key


def test_torchvision_resnet101_loads(tmp_path, torchvision_resnet101):
    state = torchvision_resnet101.state_dict()
    path = tmp_path / "resnet101.pth"
    torch.save(state, path)
    loaded = DeepLabV2ResNet101(CLASSES, pretrained=str(path))
    assert_backbone_equal(loaded, state)


def test_deeplab_init_file_layout_loads(tmp_path, torchvision_resnet101):
    # DeepLab_resnet_pretrained_init-f81d91e8.pth: every key under "Scale.", no BN
    # counters, and a 21-class VOC ASPP "layer5" with biases (AdaptSegNet model/deeplab.py).
    state = torchvision_resnet101.state_dict()
    init = {
        "Scale." + k: v
        for k, v in state.items()
        if not k.startswith("fc.") and "num_batches" not in k
    }
    for i in range(len(RATES)):
        init[f"Scale.layer5.conv2d_list.{i}.weight"] = torch.randn(21, 2048, 3, 3)
        init[f"Scale.layer5.conv2d_list.{i}.bias"] = torch.randn(21)
    path = tmp_path / "DeepLab_resnet_pretrained_init-f81d91e8.pth"
    torch.save(init, path)
    torch.manual_seed(5)
    loaded = DeepLabV2ResNet101(CLASSES, pretrained=str(path))
    assert_backbone_equal(loaded, state)
    torch.manual_seed(5)
    fresh = DeepLabV2ResNet101(CLASSES)
    for a, b in zip(loaded.head.parameters(), fresh.head.parameters(), strict=True):
        assert torch.equal(a, b)  # the head keeps its own initialisation
