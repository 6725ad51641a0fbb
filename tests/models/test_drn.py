import pytest
import torch
import torch.nn.functional as F

from harness.models.drn import CYCADA_KEY_MAP, DRNC26
from harness.models.pretrained import PretrainedLoadError, load_pretrained

CLASSES = 19

# fyu/drn drn.py, written out: (channels, blocks, stride, dilation, residual) per stage.
FYU_STAGES = [
    (16, 1, 1, 1, True),
    (32, 1, 2, 1, True),
    (64, 2, 2, 1, True),
    (128, 2, 2, 1, True),
    (256, 2, 1, 2, True),
    (512, 2, 1, 4, True),
    (512, 1, 1, 2, False),
    (512, 1, 1, 1, False),
]


def fyu_imagenet_shapes(fc_classes=1000):
    """Key -> shape of fyu/drn's drn_c_26 state dict (e.g. drn26-ddedf421.pth)."""
    shapes = {"conv1.weight": (16, 3, 7, 7)}

    def bn(prefix, c):
        shapes.update(
            {f"{prefix}.{p}": (c,) for p in ("weight", "bias", "running_mean", "running_var")}
        )

    bn("bn1", 16)
    inplanes = 16
    for i, (c, blocks, stride, _, _) in enumerate(FYU_STAGES, start=1):
        for b in range(blocks):
            p = f"layer{i}.{b}"
            shapes[f"{p}.conv1.weight"] = (c, inplanes, 3, 3)
            bn(f"{p}.bn1", c)
            shapes[f"{p}.conv2.weight"] = (c, c, 3, 3)
            bn(f"{p}.bn2", c)
            if b == 0 and (stride != 1 or inplanes != c):
                shapes[f"{p}.downsample.0.weight"] = (c, inplanes, 1, 1)
                bn(f"{p}.downsample.1", c)
            inplanes = c
    shapes["fc.weight"] = (fc_classes, 512, 1, 1)
    shapes["fc.bias"] = (fc_classes,)
    return shapes


def count_params(shapes):
    return sum(torch.Size(s).numel() for k, s in shapes.items() if "running" not in k)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DRNC26(CLASSES).eval()


def test_parameter_count_matches_fyu_drn(model):
    # the published 20.6M is checked for every backbone in test_backbones.py
    n = sum(p.numel() for p in model.parameters())
    assert n == count_params(fyu_imagenet_shapes(fc_classes=CLASSES)) == 20_623_331


def test_output_size_at_any_input_size(model):
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 33, 41))
    # three stride-2 3x3 convs with padding 1: n -> floor((n - 1) / 2) + 1, three times
    size = [33, 41]
    for _ in range(3):
        size = [(n - 1) // 2 + 1 for n in size]
    assert logits.shape == (1, CLASSES, *size) == (1, CLASSES, 5, 6)


def test_stages_follow_fyu_drn(model):
    for i, (c, blocks, stride, dilation, residual) in enumerate(FYU_STAGES, start=1):
        stage = getattr(model, f"layer{i}")
        assert len(stage) == blocks
        for b, block in enumerate(stage):
            assert block.conv1.stride == ((stride, stride) if b == 0 else (1, 1))
            assert block.conv1.dilation == block.conv2.dilation == (dilation, dilation)
            assert block.conv1.padding == (dilation, dilation)
            assert block.residual is residual
            assert block.conv2.out_channels == c


def test_non_residual_block_has_no_skip(model):
    block = model.layer8[0]
    x = torch.randn(1, 512, 5, 5)
    with torch.no_grad():
        plain = F.relu(block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x))))))
        assert torch.allclose(block(x), plain)


def test_imagenet_file_loads_through_the_constructor(tmp_path, random_like):
    state = random_like(fyu_imagenet_shapes())
    path = tmp_path / "drn26-ddedf421.pth"
    torch.save(state, path)
    loaded = DRNC26(CLASSES, pretrained=str(path))
    own = loaded.state_dict()
    for key, value in state.items():
        if not key.startswith("fc."):
            assert torch.equal(own[key], value), key


def test_cycada_source_model_loads_whole(tmp_path, random_like):
    state = random_like(fyu_imagenet_shapes(fc_classes=CLASSES), seed=1)
    path = tmp_path / "drn26-cyclegta5.pth"
    torch.save(state, path)
    target = DRNC26(CLASSES)
    report = load_pretrained(target, path, CYCADA_KEY_MAP)
    assert report.complete and not report.fresh
    assert torch.equal(target.head.weight, state["fc.weight"])
    assert torch.equal(target.layer5[1].conv2.weight, state["layer5.1.conv2.weight"])


def test_wrong_file_is_refused_with_a_clear_error(tmp_path, random_like):
    shapes = fyu_imagenet_shapes()
    del shapes["layer3.0.downsample.0.weight"]
    shapes["layer8.0.conv2.weight"] = (256, 512, 3, 3)
    shapes["layer9.0.conv1.weight"] = (512, 512, 3, 3)
    path = tmp_path / "drn_d_22.pth"
    torch.save(random_like(shapes), path)
    with pytest.raises(PretrainedLoadError) as err:
        DRNC26(CLASSES, pretrained=str(path))
    message = str(err.value)
    assert "drn_d_22.pth" in message and "DRNC26" in message
    assert "layer3.0.downsample.0.weight" in message
    assert "layer9.0.conv1.weight" in message
    assert "layer8.0.conv2.weight (file [256, 512, 3, 3] vs model [512, 512, 3, 3])" in message

    target = DRNC26(CLASSES)
    report = load_pretrained(target, path, DRNC26.pretrained_key_map, strict=False)
    # without allow_missing the head (its ImageNet "fc" is dropped) counts as missing too
    assert report.missing == ("layer3.0.downsample.0.weight", "head.weight", "head.bias")
    assert report.unexpected == ("layer9.0.conv1.weight",)
    assert [m[0] for m in report.mismatched] == ["layer8.0.conv2.weight"]
    assert torch.equal(target.layer1[0].conv1.weight, torch.load(path)["layer1.0.conv1.weight"])


def test_own_checkpoint_loads_whole(tmp_path):
    torch.manual_seed(2)
    trained = DRNC26(CLASSES)
    path = tmp_path / "source_only.pth"
    torch.save(trained.state_dict(), path)
    loaded = DRNC26(CLASSES, pretrained=str(path))
    for key, value in trained.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
