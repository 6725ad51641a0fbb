import pytest
import torch

import harness.data  # noqa: F401  (registers every dataset)
from harness.config import compile_config, training_workers
from harness.data.digits import DigitsDataset
from harness.data.in_memory import InMemoryDataset, in_memory
from harness.plan import make_plan
from harness.protocol import load_protocol
from harness.registry import DATASETS

#: The digit tensors; every other dataset reads files, augments or wraps another one.
IN_MEMORY = {"digits", "digit_files"}


@pytest.mark.parametrize("name", sorted(DATASETS.module_dict))
def test_only_the_digit_tensors_declare_the_in_memory_contract(name):
    expected = name in IN_MEMORY
    assert in_memory(name) is expected
    assert issubclass(DATASETS.get(name), InMemoryDataset) is expected


def test_reading_digits_draws_no_random_number():
    # The contract that lets training read them in the main process: --resume replays
    # the data without touching the random state the checkpoint restored.
    target = load_protocol("digits_mnist_optdigits").target
    data = DigitsDataset(split="adapt", **target.options)
    state = torch.get_rng_state()
    first = [data[i]["inputs"] for i in (0, 5, 1196)]
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a, data[i]["inputs"]) for a, i in zip(first, (0, 5, 1196),
                                                                   strict=True))


def test_training_loaders_use_workers_only_for_file_datasets():
    digits = compile_config(make_plan("digits_mnist_optdigits", "source_only", None, 0,
                                      ["train.workers=0"], quiet=True))
    assert digits.train_dataloader["num_workers"] == 0
    segmentation = compile_config(make_plan("gta5_cityscapes", "source_only", None, 0,
                                            ["train.workers=0"], quiet=True))
    assert segmentation.train_dataloader["num_workers"] == 1
    assert training_workers("digits", 3) == 3 and training_workers("gta5", 0) == 1
