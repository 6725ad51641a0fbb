import pytest
import torch

from harness.models.vgg import VGG16

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(scope="module")
def model(vgg16_imagenet):
    return VGG16(pretrained=str(vgg16_imagenet[1])).eval()


def test_matches_torchvision_after_loading_its_weights(model, vgg16_imagenet):
    reference, _ = vgg16_imagenet
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        penultimate = reference.classifier[:6](
            torch.flatten(reference.avgpool(reference.features(x)), 1)
        )
        assert torch.allclose(model.forward_features(x), penultimate, atol=1e-5)
        assert torch.allclose(model(x), reference(x), atol=1e-5)


def test_input_norm_is_torchvision_imagenet():
    norm = VGG16.input_norm
    assert not norm["to_bgr"]
    assert norm["mean"] == pytest.approx([255 * m for m in IMAGENET_MEAN])
    assert norm["std"] == pytest.approx([255 * s for s in IMAGENET_STD])
