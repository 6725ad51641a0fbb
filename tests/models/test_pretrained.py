import pickle

import pytest
import torch
from torch import nn

from harness.models.pretrained import PretrainedLoadError, load_pretrained, read_state_dict


class Tiny(nn.Module):
    def __init__(self, classes=3):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.fc = nn.Conv2d(4, 5, 2)
        self.head = nn.Conv2d(5, classes, 1)


def foreign_layout(model):
    """The model's tensors under another naming: "net." prefix, "cls." for the head."""
    out = {}
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue  # Caffe-converted files carry no BN counter
        name = "cls." + key[len("head.") :] if key.startswith("head.") else "net." + key
        out[name] = value.clone()
    return out


FOREIGN_MAP = {"net.": "", "cls.": "head."}


def save(tmp_path, obj, name="w.pth"):
    path = tmp_path / name
    torch.save(obj, path)
    return path


def assert_same_weights(a, b, keys=None):
    sa, sb = a.state_dict(), b.state_dict()
    for key in keys if keys is not None else sa:
        assert torch.equal(sa[key], sb[key]), key


def test_round_trip_with_prefix_map(tmp_path):
    torch.manual_seed(0)
    source = Tiny()
    path = save(tmp_path, foreign_layout(source))
    target = Tiny()
    report = load_pretrained(target, path, FOREIGN_MAP)
    assert report.complete and report.path == str(path)
    assert set(report.loaded) == {k for k in source.state_dict() if "num_batches" not in k}
    assert_same_weights(source, target, report.loaded)


def test_callable_map_and_wrappers(tmp_path):
    torch.manual_seed(1)
    source = Tiny()
    wrapped = {"state_dict": {"module." + k: v for k, v in source.state_dict().items()}}
    path = save(tmp_path, wrapped)
    target = Tiny()
    load_pretrained(target, path, lambda key: key)
    assert_same_weights(source, target)


def test_longest_prefix_wins_and_none_drops(tmp_path):
    torch.manual_seed(2)
    source = Tiny()
    state = foreign_layout(source)
    state["net.fc.extra"] = torch.zeros(1)  # dropped by the longer "net.fc.extra" prefix
    path = save(tmp_path, state)
    target = Tiny()
    report = load_pretrained(target, path, {**FOREIGN_MAP, "net.fc.extra": None})
    assert report.dropped == ("net.fc.extra",)
    assert_same_weights(source, target, report.loaded)


def test_missing_unexpected_and_shape_mismatch_name_the_file(tmp_path):
    state = foreign_layout(Tiny())
    del state["net.fc.bias"]
    state["net.surplus.weight"] = torch.zeros(2)
    state["cls.weight"] = torch.zeros(7, 5, 1, 1)
    path = save(tmp_path, state, "odd_layout.pth")
    target = Tiny()
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(PretrainedLoadError) as err:
        load_pretrained(target, path, FOREIGN_MAP)
    message = str(err.value)
    assert "odd_layout.pth" in message and "Tiny" in message
    assert "fc.bias" in message
    assert "net.surplus.weight -> surplus.weight" in message
    assert "head.weight (file [7, 5, 1, 1] vs model [3, 5, 1, 1])" in message
    assert "strict=False" in message
    # nothing was copied before refusing
    for key, value in target.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_strict_false_loads_the_matching_part(tmp_path):
    torch.manual_seed(3)
    source = Tiny()
    state = foreign_layout(source)
    del state["net.fc.bias"]
    state["cls.weight"] = torch.zeros(7, 5, 1, 1)
    path = save(tmp_path, state)
    target = Tiny()
    head_before = target.head.weight.clone()
    report = load_pretrained(target, path, FOREIGN_MAP, strict=False)
    assert not report.complete
    assert report.missing == ("fc.bias",)
    assert report.mismatched == (("head.weight", (7, 5, 1, 1), (3, 5, 1, 1)),)
    assert torch.equal(target.head.weight, head_before)
    assert_same_weights(source, target, report.loaded)
    assert "fc.bias" in report.describe()


def test_allow_missing_keeps_a_fresh_head(tmp_path):
    state = {k: v for k, v in foreign_layout(Tiny()).items() if not k.startswith("cls.")}
    path = save(tmp_path, state)
    report = load_pretrained(Tiny(), path, FOREIGN_MAP, allow_missing=("head.",))
    assert report.complete
    assert set(report.fresh) == {"head.weight", "head.bias"}
    with pytest.raises(PretrainedLoadError, match="head.weight"):
        load_pretrained(Tiny(), path, FOREIGN_MAP)


def test_reshape_only_where_asked(tmp_path):
    torch.manual_seed(4)
    source = Tiny()
    state = foreign_layout(source)
    state["net.fc.weight"] = state["net.fc.weight"].flatten(1)  # a Linear's (5, 16)
    path = save(tmp_path, state)
    target = Tiny()
    load_pretrained(target, path, FOREIGN_MAP, reshape=("fc.weight",))
    assert torch.equal(target.fc.weight, source.fc.weight)
    with pytest.raises(PretrainedLoadError, match=r"fc.weight \(file \[5, 16\]"):
        load_pretrained(Tiny(), path, FOREIGN_MAP)


def test_two_keys_onto_one_is_refused(tmp_path):
    state = foreign_layout(Tiny())
    state["head.weight"] = state["cls.weight"]
    path = save(tmp_path, state)
    with pytest.raises(PretrainedLoadError, match="both map to 'head.weight'"):
        load_pretrained(Tiny(), path, FOREIGN_MAP)


def test_bad_files(tmp_path):
    with pytest.raises(PretrainedLoadError, match="nope.pth"):
        read_state_dict(tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(PretrainedLoadError, match="junk.pth"):
        read_state_dict(junk)
    pickled = tmp_path / "object.pth"
    with open(pickled, "wb") as f:
        pickle.dump({"weight": Tiny}, f)  # a class, which weights_only refuses to load
    with pytest.raises(PretrainedLoadError, match="object.pth"):
        read_state_dict(pickled)
    with pytest.raises(PretrainedLoadError, match="not tensors"):
        read_state_dict(save(tmp_path, {"a": torch.zeros(1), "b": 3}))
    with pytest.raises(PretrainedLoadError, match="list"):
        read_state_dict(save(tmp_path, [torch.zeros(1)]))
