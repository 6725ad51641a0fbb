"""The papers' own numbers (``results/reported/``), shown beside reproduced runs."""

import functools
import tomllib
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from harness import PROJECT_ROOT
from harness.errors import HarnessError
from harness.protocol import Protocol

REPORTED_DIR = PROJECT_ROOT / "results" / "reported"
PAPERS_FILE = REPORTED_DIR / "papers.toml"
#: The reported CSVs abbreviate two Cityscapes class names.
REPORTED_CLASS_ALIASES = {"light": "traffic light", "sign": "traffic sign"}


class ReportedError(HarnessError, ValueError):
    """The papers' table or a reported CSV that the leaderboard cannot cite."""


class Papers(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Document key (first three characters of a CSV's ``source_doc``) -> citation.
    papers: dict[Annotated[str, StringConstraints(pattern=r"^\d{3}$")],
                 Annotated[str, StringConstraints(min_length=1)]]


@functools.cache
def load_papers(path: Path = PAPERS_FILE) -> dict[str, str]:
    try:
        return Papers.model_validate(tomllib.loads(Path(path).read_text())).papers
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ReportedError(f"{path}: not a valid table of papers: {exc}") from None


def reported_table(protocol: Protocol) -> pd.DataFrame:
    """The protocol's rows of its reported CSV, one row per (paper, task, method, backbone)."""
    if protocol.reported is None:
        return pd.DataFrame()
    path = REPORTED_DIR / protocol.reported.file
    csv = pd.read_csv(path, dtype={"value": str})
    csv = csv[csv["task"].isin(protocol.reported.tasks)]
    if csv.empty:
        return pd.DataFrame()
    papers = load_papers()
    docs = csv["source_doc"].str.slice(0, 3)
    unknown = sorted(set(docs) - set(papers))
    if unknown:
        raise ReportedError(f"{path}: source_doc key(s) {', '.join(unknown)} are not in "
                            f"{PAPERS_FILE.name}; add their citations there")
    csv = csv.assign(
        column=np.where(csv["class"].notna(),
                        csv["class"].map(lambda c: REPORTED_CLASS_ALIASES.get(c, c)),
                        csv["metric"]),
        paper=docs.map(papers) + ", " + csv["table"],
    )
    keys = ["paper", "task", "method", "backbone"]
    wide = csv.fillna({"backbone": ""}).pivot_table(
        index=keys, columns="column", values="value", aggfunc="first", sort=False
    ).reset_index()
    headline = [c for c in ("miou", "miou16", "miou13", "accuracy", "top1", "fwiou", "pixel_acc")
                if c in wide.columns]
    classes = [c for c in wide.columns if c not in keys + headline]
    return wide[keys + headline + classes].fillna("-")
