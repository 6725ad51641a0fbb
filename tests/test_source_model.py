"""Where methods that start from a source model get it: cache, or pretrained weights."""

import pytest
import torch

from harness.checkpoints import load_final
from harness.models.lenet import LeNet
from harness.plan import make_plan
from harness.protocol import PROTOCOL_DIR
from harness.run import ensure_source_model


def test_pretrained_source_model_is_the_given_weights_untrained(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(3)
    weights = tmp_path / "lenet_rgb.pth"
    reference = LeNet(num_classes=10, in_channels=3)
    torch.save(reference.state_dict(), weights)
    plan = make_plan("mnistm_simcam_rotation", "adapternet", None, 0,
                     ["source_model=pretrained", f"model.init={weights}"])
    path = ensure_source_model(plan)
    assert path == plan.source_cache and path.is_file()
    holder = torch.nn.Module()
    holder.net = LeNet(num_classes=10, in_channels=3)
    load_final(holder, path, prefix="net.")
    for key, value in reference.state_dict().items():
        assert torch.equal(holder.net.state_dict()[key], value)


def test_pretrained_source_model_needs_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    plan = make_plan("mnistm_simcam_rotation", "adapternet", None, 0, ["source_model=pretrained"])
    with pytest.raises(ValueError, match="model.init=PATH"):
        ensure_source_model(plan)


def test_method_budget_does_not_change_the_source_model(tmp_path, monkeypatch):
    """A ``[methods.NAME] train`` table is the method's budget, not the source model's."""
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    plain = make_plan("digits_mnist_optdigits", "source_only", None, 0)
    proto_file = tmp_path / "digits_mnist_optdigits.toml"
    text = (PROTOCOL_DIR / "digits_mnist_optdigits.toml").read_text()
    proto_file.write_text(text + "\n[methods.st]\ntrain = { iters = 5000, lr = 1e-4 }\n")
    plan = make_plan(str(proto_file), "st", None, 0)
    assert plan.protocol.train.iters == 5000 and plan.protocol.train.lr == 1e-4
    assert plan.source_protocol.train == plain.protocol.train
    assert plan.source_cache == plain.source_cache
    source = plan.for_source_model()
    assert source.protocol.train.iters == plain.protocol.train.iters
    # The user's --set applies to the whole run, the source model included.
    quick = make_plan(str(proto_file), "st", None, 0, ["train.iters=7"])
    assert quick.protocol.train.iters == 7 and quick.source_protocol.train.iters == 7
    assert quick.source_cache != plain.source_cache


def test_weights_digest_is_the_tensors_not_the_file(tmp_path):
    from harness.checkpoints import final_meta_and_digest, save_final, weights_digest

    torch.manual_seed(0)
    net = LeNet(num_classes=10, in_channels=1)
    holder = torch.nn.Module()
    holder.net = net
    digest = weights_digest(holder.state_dict())
    # Two files with the same tensors and different meta (another run id): same digest.
    a = save_final(holder, tmp_path / "a.pth", {"run_id": "first"})
    b = save_final(holder, tmp_path / "b.pth", {"run_id": "second"})
    assert a.read_bytes() != b.read_bytes()
    (meta_a, digest_a), (meta_b, digest_b) = map(final_meta_and_digest, (a, b))
    assert meta_a["run_id"] == "first" and meta_b["run_id"] == "second"
    assert digest_a == digest_b == digest
    # One value one ulp away, or the same values under another dtype: another digest.
    with torch.no_grad():
        net.head.bias[3] = torch.nextafter(net.head.bias[3], torch.tensor(1.0))
    assert weights_digest(holder.state_dict()) != digest
    doubled = {k: v.double() for k, v in holder.state_dict().items()}
    assert weights_digest(doubled) != weights_digest(holder.state_dict())


def test_a_method_record_names_its_source_model_by_the_weights_digest(tmp_path, monkeypatch,
                                                                       tiny_sets):
    """The digest a method records for its source model is the one the source_only run
    recorded for the weights it put in the cache, and the file's own."""
    from harness.checkpoints import final_meta_and_digest
    from harness.run import execute

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    common = dict(results_dir=tmp_path / "records", quiet=True)
    source, _ = execute(make_plan("digits_mnist_optdigits", "source_only", None, 0, tiny_sets,
                                  work_dir=tmp_path / "so", **common))
    plan = make_plan("digits_mnist_optdigits", "st", None, 0, tiny_sets,
                     work_dir=tmp_path / "st", **common)
    adapted, _ = execute(plan)
    digest = source.train.weights_sha256
    assert len(digest) == 64
    assert adapted.method.source_model.weights_sha256 == digest
    assert adapted.method.source_model.run_id == source.run_id
    def file_digest(path):
        return final_meta_and_digest(path)[1]

    assert file_digest(plan.source_cache) == digest
    assert file_digest(tmp_path / "so" / "model_final.pth") == digest
    assert adapted.train.weights_sha256 == file_digest(tmp_path / "st" / "model_final.pth")
    assert adapted.train.weights_sha256 != digest
