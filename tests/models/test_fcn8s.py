import math

import pytest
import torch
import torch.nn.functional as F

from harness.models.fcn8s import FCN8sVGG16

CLASSES = 19
VGG16_CONV_CHANNELS = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]


def up_kernel(k):
    """fyu/drn segment.py fill_up_weights: the bilinear deconvolution filter of size k."""
    f = math.ceil(k / 2)
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    w = torch.zeros(k, k)
    for i in range(k):
        for j in range(k):
            w[i, j] = (1 - abs(i / f - c)) * (1 - abs(j / f - c))
    return w


def reference_classify(head, features, classes):
    """voc-fcn8s-atonce/net.py written out, with a full classes x classes deconvolution."""

    def up(x, k, stride):
        w = torch.zeros(classes, classes, k, k)
        for c in range(classes):
            w[c, c] = up_kernel(k)
        return F.conv_transpose2d(x, w, stride=stride)

    def score(conv, x):
        return F.conv2d(x, conv.weight, conv.bias)

    upscore2 = up(score(head.score_fr, features.fc7), 4, 2)
    h, w = upscore2.shape[2:]
    pool4 = score(head.score_pool4, 0.01 * features.pool4)[:, :, 5 : 5 + h, 5 : 5 + w]
    upscore_pool4 = up(upscore2 + pool4, 4, 2)
    h, w = upscore_pool4.shape[2:]
    pool3 = score(head.score_pool3, 0.0001 * features.pool3)[:, :, 9 : 9 + h, 9 : 9 + w]
    upscore8 = up(upscore_pool4 + pool3, 16, 8)
    height, width = features.size
    return upscore8[:, :, 31 : 31 + height, 31 : 31 + width]


@pytest.fixture(scope="module")
def model(vgg16_imagenet):
    return FCN8sVGG16(CLASSES, pretrained=str(vgg16_imagenet[1])).eval()


def test_parameter_count(model):
    # the published 134M is checked for every backbone in test_backbones.py
    convs, inplanes = 0, 3
    for c in VGG16_CONV_CHANNELS:
        convs += inplanes * c * 9 + c
        inplanes = c
    fc6, fc7 = 512 * 7 * 7 * 4096 + 4096, 4096 * 4096 + 4096
    scores = (4096 + 512 + 256 + 3) * CLASSES
    n = sum(p.numel() for p in model.parameters())
    assert n == convs + fc6 + fc7 + scores == 134_353_017


def test_torchvision_vgg16_initialises_the_trunk(model, vgg16_imagenet):
    reference, _ = vgg16_imagenet
    own = model.state_dict()
    for key, value in reference.features.state_dict().items():
        assert torch.equal(own["features." + key], value), key
    assert all(not p.any() for p in model.head.parameters())  # Caffe's zero filler
    # fc6 as a 7x7 convolution computes the Linear layer on a 7x7 pool5 map
    pool5 = torch.randn(2, 512, 7, 7)
    with torch.no_grad():
        as_conv = model.fc[0](pool5).flatten(1)
        assert torch.allclose(as_conv, reference.classifier[0](pool5.flatten(1)), atol=1e-4)
        fc7_in = torch.randn(2, 4096, 1, 1)
        assert torch.allclose(
            model.fc[3](fc7_in).flatten(1), reference.classifier[3](fc7_in.flatten(1)), atol=1e-4
        )


def test_reference_layout(model):
    assert model.features[0].padding == (100, 100)
    pools = [m for m in model.features if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == 5 and all(p.ceil_mode for p in pools)


def test_full_resolution_output_matches_the_reference_definition(model):
    torch.manual_seed(0)
    x = torch.randn(1, 3, 23, 38)
    try:
        with torch.no_grad():
            for p in model.head.parameters():  # non-zero scores, so every path counts
                p.normal_(0, 0.01)
            features = model.forward_features(x)
            logits = model.classify(features)
            expected = reference_classify(model.head, features, CLASSES)
    finally:
        for p in model.head.parameters():  # back to the zero filler the fixture has
            torch.nn.init.zeros_(p)
    assert logits.shape == (1, CLASSES, 23, 38)
    assert torch.allclose(logits, expected, rtol=1e-4, atol=1e-6)
