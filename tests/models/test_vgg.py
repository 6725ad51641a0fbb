import pytest
import torch

from harness.models.vgg import VGG16

# Simonyan & Zisserman 2015 Table 2: 138M; torchvision's VGG16_Weights metadata: 138,357,544.
VGG16_PARAMS = 138_357_544
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(scope="module")
def model(vgg16_imagenet):
    return VGG16(pretrained=str(vgg16_imagenet[1])).eval()


def test_parameter_count(model):
    assert sum(p.numel() for p in model.parameters()) == VGG16_PARAMS


def test_matches_torchvision_after_loading_its_weights(model, vgg16_imagenet):
    reference, _ = vgg16_imagenet
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        penultimate = reference.classifier[:6](
            torch.flatten(reference.avgpool(reference.features(x)), 1)
        )
        assert torch.allclose(model.forward_features(x), penultimate, atol=1e-5)
        assert torch.allclose(model(x), reference(x), atol=1e-5)


def test_interface(model, assert_interface):
    logits, _ = assert_interface(VGG16, "vgg16", model, torch.randn(1, 3, 32, 32))
    assert logits.shape == (1, 1000)
    assert model.output_stride is None


def test_input_norm_is_torchvision_imagenet():
    norm = VGG16.input_norm
    assert not norm["to_bgr"]
    assert norm["mean"] == pytest.approx([255 * m for m in IMAGENET_MEAN])
    assert norm["std"] == pytest.approx([255 * s for s in IMAGENET_STD])
