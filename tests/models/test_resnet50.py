"""ResNet-50 from torchvision's ImageNet state dict: the head is new, every other key must fit."""

import pytest
import torch
from torchvision.models import resnet18, resnet50

from harness.models.pretrained import PretrainedLoadError
from harness.models.resnet50 import ResNet50


@pytest.fixture(scope="module")
def imagenet_file(tmp_path_factory):
    torch.manual_seed(1)
    reference = resnet50(weights=None)  # torchvision's layout and key names
    path = tmp_path_factory.mktemp("weights") / "resnet50.pth"
    torch.save(reference.state_dict(), path)
    return reference, path


def test_torchvision_weights_load_and_the_head_stays_new(imagenet_file):
    reference, path = imagenet_file
    model = ResNet50(num_classes=31, pretrained=str(path))
    assert torch.equal(model.stem[0].weight, reference.conv1.weight)
    assert torch.equal(model.stem[1].running_mean, reference.bn1.running_mean)
    assert torch.equal(model.layer4[2].conv3.weight, reference.layer4[2].conv3.weight)
    assert model.head.weight.shape == (31, 2048)
    reference.eval(), model.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        features = torch.flatten(reference.avgpool(reference.layer4(reference.layer3(
            reference.layer2(reference.layer1(reference.maxpool(reference.relu(reference.bn1(
                reference.conv1(x))))))))), 1)
        assert torch.allclose(model.forward_features(x), features)


def test_a_file_of_another_network_names_missing_and_unexpected_keys(tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save(resnet18(weights=None).state_dict(), path)
    with pytest.raises(PretrainedLoadError) as err:
        ResNet50(num_classes=31, pretrained=str(path))
    text = str(err.value)
    assert "missing from the file" in text and "layer1.0.conv3.weight" in text
    assert "shape mismatches" in text and str(path) in text
