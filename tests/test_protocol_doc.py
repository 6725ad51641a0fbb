from typing import Literal

import pytest
from pydantic import BaseModel, Field

from harness import protocol_doc
from harness.protocol_doc import BEGIN, END, README, render, table


def test_committed_readme_matches_the_schema():
    text = README.read_text()
    assert render(text) == text, "protocols/README.md is out of date: python -m harness.protocol_doc"
    assert protocol_doc.main(["--check"]) == 0


def test_every_schema_key_is_in_the_readme():
    # Keys the hand-written table used to miss must now be there.
    text = README.read_text()
    for key in ("eval.input_size", "train.resize_short_edge", "train.flip_prob",
                "source.test_options", "eval.metric", "methods.NAME.hparams"):
        assert f"| `{key}` |" in text


def test_rows_give_type_constraints_and_defaults():
    class Sub(BaseModel):
        size: list[int] | None = Field(None, min_length=2, max_length=2, description="w, h")
        tags: list[str] = Field(min_length=1, description="some | tags")

    class Doc(BaseModel):
        rate: float = Field(0.0, ge=0, le=1, description="a rate")
        kind: Literal["a", "b"] = Field("a", description="a kind")
        sub: Sub = Field(description="a table")
        per: dict[str, Sub] = Field(default_factory=dict, description="by name")

    assert table(Doc).splitlines()[2:] == [
        "| `rate` | float, >= 0, <= 1 | `0.0` | a rate |",
        '| `kind` | `"a"` \\| `"b"` | `"a"` | a kind |',
        "| `sub` | table | required | a table |",
        "| `sub.size` | [int, int] | unset | w, h |",
        "| `sub.tags` | non-empty list of str | required | some \\| tags |",
        "| `per.NAME` | table |  | by name |",
        "| `per.NAME.size` | [int, int] | unset | w, h |",
        "| `per.NAME.tags` | non-empty list of str | required | some \\| tags |",
    ]


def test_a_key_without_description_is_an_error():
    class Doc(BaseModel):
        undocumented: int = 3

    with pytest.raises(ValueError, match="Doc.undocumented has no description"):
        table(Doc)


def test_render_replaces_only_between_markers():
    text = f"intro\n{BEGIN}\nstale\n{END}\nafter\n"
    out = render(text)
    assert out.startswith(f"intro\n{BEGIN}\n| key |") and out.endswith(f"|\n{END}\nafter\n")
    assert "stale" not in out and render(out) == out
    with pytest.raises(ValueError, match="markers"):
        render("no markers")
