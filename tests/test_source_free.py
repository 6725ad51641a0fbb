"""A source-free run builds no source training dataset, and says so in its record.

The source domain of the protocol below is a dataset that refuses to be built for
its training split and logs every construction: a source-free method (3C-GAN) must
run to the end with only the source test split built, after training.
"""

import hashlib

import pytest
import torch

from harness.checkpoints import save_final
from harness.data.digits import DigitsDataset
from harness.plan import make_plan
from harness.protocol import protocol_path
from harness.registry import DATASETS, MODELS
from harness.run import execute
from harness.source_free import SourceModelMissingError

BUILT: list[str] = []


@DATASETS.register_module(name="source_train_forbidden", force=True)
class SourceTrainForbidden(DigitsDataset):
    """The embedded MNIST digits, except that building the training split is an error."""

    def __init__(self, split: str, **options):
        BUILT.append(split)
        if split == "train":
            raise AssertionError("the source training split was built in a source-free run")
        super().__init__(split=split, **options)


def forbidding_protocol(tmp_path):
    """digits_mnist_optdigits with the source read through SourceTrainForbidden."""
    text = protocol_path("digits_mnist_optdigits").read_text()
    text = text.replace('name = "digits_mnist_optdigits"', 'name = "no_source_train"')
    text = text.replace('[source]\ndataset = "digits"',
                        '[source]\ndataset = "source_train_forbidden"')
    assert "source_train_forbidden" in text
    path = tmp_path / "no_source_train.toml"
    path.write_text(text)
    return path


def test_source_free_run_builds_only_the_source_test_split_after_training(tmp_path,
                                                                          tiny_sets):
    protocol = forbidding_protocol(tmp_path)
    sets = [*tiny_sets, "train.iters=2", "train.batch=16", "eval.points=1"]
    plan = make_plan(str(protocol), "three_c_gan", None, 0, sets,
                     results_dir=tmp_path / "records", quiet=True)
    # The cached source model (normally the output of a source_only run elsewhere).
    holder = torch.nn.Module()
    holder.net = MODELS.build({"type": "lenet", "num_classes": 10, "in_channels": 1})
    save_final(holder, plan.source_cache, {"method": "source_only", "run_id": "abc"})
    BUILT.clear()
    record, path = execute(plan)
    assert BUILT == ["test"]  # built once, for the evaluation after training
    assert record.method.source_free and record.method.train_domains == ["target"]
    assert record.method.source_model.run_id == "abc"
    assert record.metrics["source"].n == 1000  # evaluated on the source test split
    # the method's picture, beside the record, with the hash the record lists
    png = path.with_suffix(".samples.png")
    assert hashlib.sha256(png.read_bytes()).hexdigest() == record.pictures["samples"]
    assert (plan.work_dir / "pictures" / "samples.png").read_bytes() == png.read_bytes()


def test_missing_source_model_without_source_data_names_the_command(tmp_path):
    (tmp_path / "data" / "mnist").mkdir(parents=True)  # the target is there, the source not
    plan = make_plan("digits_svhn_mnist", "three_c_gan", None, 3, ["train.iters=2"],
                     data_root=tmp_path / "data", results_dir=tmp_path / "records",
                     quiet=True)
    assert not plan.source_cache.exists()
    with pytest.raises(SourceModelMissingError) as err:
        execute(plan)
    text = str(err.value)
    assert ("harness run --protocol digits_svhn_mnist --method source_only --backbone dtn "
            "--seed 3") in text
    assert "train_32x32.mat" in text  # what is missing


def test_a_method_that_uses_source_data_keeps_the_plain_error(tmp_path):
    plan = make_plan("digits_svhn_mnist", "calibrator", None, 0, ["train.iters=2"],
                     data_root=tmp_path / "empty", results_dir=tmp_path / "records",
                     quiet=True)
    with pytest.raises(Exception) as err:
        execute(plan)
    assert not isinstance(err.value, SourceModelMissingError)
