import pandas as pd
from markdown_it import MarkdownIt

from harness.leaderboard import build_pages
from harness.leaderboard.render import escape, markdown_table
from harness.protocol import load_protocol
from harness.results import write_record

DIGITS = load_protocol("digits_mnist_optdigits")


def table_rows(markdown: str) -> list[list[str]]:
    """The cells' text of the first table, as a GFM parser reads it (an independent reference)."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    rows, row = [], None
    for t in tokens:
        if t.type == "tr_open":
            row = []
            rows.append(row)
        elif t.type == "inline" and row is not None:
            row.append("".join(c.content for c in t.children if c.type in ("text", "code_inline")))
        elif t.type == "table_close":
            break
    return rows


def test_escaped_strings_stay_in_their_cell():
    df = pd.DataFrame({"method|name": ["a|b\nc", "x`y`z", "back\\|slash"], "n": [1, 2, 3]})
    rows = table_rows(markdown_table(df))
    assert rows == [["method|name", "n"], ["a|b c", "1"], ["x`y`z", "2"],
                    ["back\\|slash", "3"]]
    assert escape("plain_name (uses target labels: not ranked)") == (
        "plain_name (uses target labels: not ranked)")


def test_a_method_name_with_a_pipe_and_a_newline_does_not_break_the_page(tmp_path, make_record,
                                                                       digits_runs):
    digits_runs(tmp_path)
    write_record(make_record(0, 90.0, protocol_hash=DIGITS.hash, method="evil|method\nname",
                             classes=[str(i) for i in range(10)]), tmp_path)
    pages = build_pages(tmp_path)[0]
    page = pages["digits_mnist_optdigits.md"]
    rows = table_rows(page[page.index("## Reproduced"):])
    assert all(len(row) == len(rows[0]) for row in rows) and len(rows) == 4
    assert [row[0] for row in rows[1:]] == [
        "evil|method name", "source_only", "oracle (upper bound: trained on target labels)"]
    index = table_rows(pages["README.md"])
    best = next(row for row in index if row[0] == "digits_mnist_optdigits")
    assert len(best) == len(index[0]) and best[-1] == "evil|method name: target acc 90.00"


def test_protocol_notes_are_the_pages_findings_and_not_its_identity(tmp_path):
    from harness.leaderboard.render import render_page
    from harness.protocol import PROTOCOL_DIR

    text = (PROTOCOL_DIR / "mnistm_simcam_power.toml").read_text()
    start, end = text.index('notes = """'), text.index('"""\n', text.index('notes = """') + 11) + 4
    path = tmp_path / "mnistm_simcam_power.toml"
    path.write_text(text[:start] + 'notes = "AdapterNet needs **VGG16**."\n' + text[end:])
    noted, committed = load_protocol(str(path)), load_protocol("mnistm_simcam_power")
    path.write_text(text[:start] + text[end:])
    plain = load_protocol(str(path))
    assert noted.hash == committed.hash == plain.hash
    page = render_page(noted, [], [], pd.DataFrame())
    assert "## Findings\n\nAdapterNet needs **VGG16**." in page
    assert "## Findings" not in render_page(plain, [], [], pd.DataFrame())


def test_runs_from_another_source_model_are_named_on_the_page(tmp_path, make_record):
    """By weights digest where both records keep one (a retrained cache entry keeps its
    digest under a new run id), else by run id."""
    digits = [str(i) for i in range(10)]

    def run(seed, method, digest=None, source=None):
        used = None if source is None else {"cache_key": "k", "from": "source_only", **source}
        record = make_record(seed, 70.0 + seed, protocol_hash=DIGITS.hash, method=method,
                             classes=digits, source_model=used, weights_sha256=digest)
        write_record(record, tmp_path)
        return record

    so = [run(0, "source_only", "a" * 64), run(1, "source_only", "b" * 64),
          run(2, "source_only")]
    other = "0" * 16
    run(0, "st", source={"run_id": other, "weights_sha256": "a" * 64})  # retrained: same
    moved = run(1, "st", source={"run_id": so[1].run_id, "weights_sha256": "d" * 64})
    unknown = run(2, "st", source={"run_id": other, "weights_sha256": "c" * 64})
    run(2, "cbst", source={"run_id": so[2].run_id})  # no digests: the run id matches
    page = build_pages(tmp_path)[0]["digits_mnist_optdigits.md"]
    (line,) = [x for x in page.splitlines() if "not the listed source_only run" in x]
    assert line.endswith(f"st seed 1 (`{moved.run_id}`), st seed 2 (`{unknown.run_id}`).")


def test_runs_from_uncommitted_code_are_named_on_the_page(tmp_path, make_record, digits_runs):
    digits_runs(tmp_path)
    assert "uncommitted code" not in build_pages(tmp_path)[0]["digits_mnist_optdigits.md"]
    digits = [str(i) for i in range(10)]
    dirty = make_record(3, 71.0, protocol_hash=DIGITS.hash, method="source_only",
                        classes=digits, dirty=True)
    write_record(dirty, tmp_path)
    page = build_pages(tmp_path)[0]["digits_mnist_optdigits.md"]
    (line,) = [x for x in page.splitlines() if "uncommitted code" in x]
    # Only that run, by method, seed and id; it still counts in its row (4 seeds).
    assert line.endswith(f"source_only seed 3 (`{dirty.run_id}`).")
    assert line.count("seed ") == 1
    assert table_rows(page)[1][:3] == ["source_only", "lenet", "4"]
