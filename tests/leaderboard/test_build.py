from rich.console import Console

from harness.leaderboard import build_all


def test_check_passes_when_current_and_fails_on_edits_and_corrupt_records(tmp_path, digits_runs):
    runs, out = tmp_path / "runs", tmp_path / "boards"
    digits_runs(runs)
    console = Console(record=True, width=200)
    assert build_all(runs, out, check=True, console=console) == 1  # nothing generated yet
    assert build_all(runs, out, check=False, console=console) == 0
    assert (out / "plots" / "digits_mnist_optdigits_tradeoff.png").stat().st_size > 1000
    assert build_all(runs, out, check=True, console=console) == 0
    page = out / "digits_mnist_optdigits.md"
    page.write_text(page.read_text() + "edited\n")
    assert build_all(runs, out, check=True, console=console) == 1
    assert build_all(runs, out, check=False, console=console) == 0
    bad = runs / "digits_mnist_optdigits" / "0000000000000000.json"
    bad.write_text('{"truncated": ')
    console = Console(record=True, width=200)
    assert build_all(runs, out, check=True, console=console) == 1
    assert bad.name in console.export_text()


def test_committed_pages_are_current():
    from harness import PROJECT_ROOT

    console = Console(record=True, width=200)
    code = build_all(PROJECT_ROOT / "results" / "runs", PROJECT_ROOT / "leaderboards",
                     check=True, console=console)
    assert code == 0, console.export_text()
