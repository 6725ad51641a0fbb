import pandas as pd
import pytest

from harness.leaderboard import build_pages
from harness.leaderboard.reported import REPORTED_DIR, ReportedError, load_papers
from harness.protocol import load_protocol


def test_reported_rows_are_shown_and_marked(tmp_path):
    page = build_pages(tmp_path)[0]["gta5_cityscapes.md"]
    assert "## Reported by the papers (not reproduced here)" in page
    reported = pd.read_csv(REPORTED_DIR / "gta5_cityscapes.csv", dtype={"value": str})
    plca = reported[(reported.method == "PLCA") & (reported.metric == "miou")]["value"]
    assert plca.size and all(f" {v} " in page for v in plca.astype(str))
    assert "PLCA (Kang et al., NeurIPS 2020)" in page


def test_every_reported_document_has_a_citation():
    docs = pd.concat(pd.read_csv(p, usecols=["source_doc"]) for p in REPORTED_DIR.glob("*.csv"))
    assert set(docs["source_doc"].str.slice(0, 3)) <= set(load_papers())


@pytest.mark.parametrize("text", [
    '[papers]\n"12" = "Too short a key"\n',
    '[papers]\n"000" = ""\n',
    '[papers]\n"000" = "A"\n[extra]\n',
    '[papers\n',
])
def test_a_bad_papers_table_is_named(tmp_path, text):
    path = tmp_path / "papers.toml"
    path.write_text(text)
    with pytest.raises(ReportedError, match="papers.toml: not a valid table of papers"):
        load_papers(path)


def test_a_csv_citing_an_unknown_paper_is_an_error(tmp_path, monkeypatch):
    import harness.leaderboard.reported as reported

    csv = pd.read_csv(REPORTED_DIR / "gta5_cityscapes.csv", dtype={"value": str})
    csv["source_doc"] = "999_" + csv["source_doc"].str.slice(4)
    csv.to_csv(tmp_path / "gta5_cityscapes.csv", index=False)
    monkeypatch.setattr(reported, "REPORTED_DIR", tmp_path)
    with pytest.raises(ReportedError, match="gta5_cityscapes.csv: source_doc key.* 999"):
        reported.reported_table(load_protocol("gta5_cityscapes"))
