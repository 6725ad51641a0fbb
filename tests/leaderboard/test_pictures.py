"""Source-free runs and the pictures of a run on the leaderboard page."""

import hashlib
from pathlib import Path

import numpy as np

from harness.leaderboard import build_pages
from harness.pictures import digests, encode_pictures, picture_file, write_pictures
from harness.protocol import load_protocol
from harness.results import finalize, write_record

DIGITS = load_protocol("digits_mnist_optdigits")


def source_free_run(make_record, runs: Path, work: Path) -> tuple[Path, dict[str, bytes]]:
    """A 3C-GAN-like record with one picture, written as ``harness run`` writes them."""
    pictures = encode_pictures({"samples": np.full((4, 6, 3), 200, np.uint8)}, "m")
    base = make_record(0, 90.0, as_written=DIGITS, method="three_c_gan",
                       classes=[str(i) for i in range(10)]).model_dump(mode="json")
    base.pop("run_id")
    base["method"]["source_free"] = True
    base["pictures"] = digests(pictures)
    path = write_record(finalize(base), runs)
    write_pictures(pictures, work, path)
    return path, pictures


def test_page_marks_source_free_rows_and_links_their_pictures(tmp_path, make_record):
    runs, pages_dir = tmp_path / "results" / "runs", tmp_path / "leaderboards"
    path, pictures = source_free_run(make_record, runs, tmp_path / "work")
    assert (tmp_path / "work" / "pictures" / "samples.png").read_bytes() == pictures["samples"]
    pages, problems, _ = build_pages(runs, pages_dir)
    page = pages["digits_mnist_optdigits.md"]
    assert not problems
    assert "| three_c_gan (source-free) |" in page and "adapted without source data" in page
    link = f"../results/runs/digits_mnist_optdigits/{path.stem}.samples.png"
    assert f"![three_c_gan / lenet / seed 0: samples]({link})" in page
    assert (pages_dir / link).resolve() == picture_file(path, "samples").resolve()


def test_png_bytes_are_deterministic_and_a_changed_picture_is_a_problem(tmp_path, make_record):
    runs = tmp_path / "runs"
    path, pictures = source_free_run(make_record, runs, tmp_path / "work")
    again = encode_pictures({"samples": np.full((4, 6, 3), 200, np.uint8)}, "m")
    assert again == pictures
    assert hashlib.sha256(picture_file(path, "samples").read_bytes()).hexdigest() == (
        digests(pictures)["samples"])
    picture_file(path, "samples").write_bytes(b"not the run's picture")
    problems = build_pages(runs, tmp_path)[1]
    assert any("differs from the sha256" in p for p in problems)
    picture_file(path, "samples").unlink()
    assert any("missing" in p for p in build_pages(runs, tmp_path)[1])
