"""A run whose dataset folder is absent stops at once with one line naming the folder.

Generated over every protocol that reads a dataset from the data root: `harness run`
with an empty data root exits 2, prints the fix, no traceback, and writes nothing.
"""

import pytest
import torch

from harness.checkpoints import save_final
from harness.cli import main
from harness.errors import DataMissingError
from harness.plan import make_plan
from harness.protocol import load_protocol, protocol_names
from harness.registry import MODELS
from harness.run import execute


def _reads_data_root(name: str) -> bool:
    p = load_protocol(name)
    return any(getattr(p, d).data_root is not None for d in ("source", "target"))


READING = [name for name in protocol_names() if _reads_data_root(name)]


def test_protocols_that_read_the_data_root_are_most_of_them():
    assert "gta5_cityscapes" in READING and "office31_amazon_webcam" in READING
    assert "digits_mnist_optdigits" not in READING  # its data ships inside pip packages


@pytest.mark.parametrize("name", READING)
def test_run_without_its_dataset_folder_exits_2_naming_the_folder(name, tmp_path, capsys):
    empty = tmp_path / "data"  # not created: protocols with data_root "." read it directly
    work = tmp_path / "work"
    argv = ["run", "--protocol", name, "--data-root", str(empty), "--work-dir", str(work),
            "--results-dir", str(tmp_path / "records"), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    p = load_protocol(name)
    first = next(d for d in ("source", "target") if getattr(p, d).data_root is not None)
    folder = empty / getattr(p, first).data_root
    assert err.startswith(f"error: {name}: the {first} dataset")
    assert f"should be in {folder}, which does not exist" in err
    assert f"harness data check --protocol {name}" in err and "Traceback" not in err
    assert err.count("\n") == 1  # one line, however long: the path is never wrapped
    assert not work.exists()  # stopped before the run wrote anything


def test_source_free_run_checks_the_source_folder_after_the_cached_model(tmp_path):
    """3C-GAN reads the source test split only to evaluate; with the source model cached
    and the target in place, the missing source folder is named before training."""
    root = tmp_path / "data"
    (root / "mnist").mkdir(parents=True)  # the target's folder (its files are not read yet)
    plan = make_plan("digits_svhn_mnist", "three_c_gan", None, 0, ["train.iters=2"],
                     data_root=root, work_dir=tmp_path / "work",
                     results_dir=tmp_path / "records", quiet=True)
    holder = torch.nn.Module()
    holder.net = MODELS.build({"type": plan.backbone, "num_classes": 10, "in_channels": 3})
    save_final(holder, plan.source_cache, {"method": "source_only", "run_id": "abc"})
    with pytest.raises(DataMissingError, match=r"the source dataset .* should be in .*svhn"):
        execute(plan)
