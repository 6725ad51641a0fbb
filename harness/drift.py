"""``harness drift``: re-run the CI baselines and compare with the committed numbers.

A baseline is a TOML file in ``results/baselines/``: what to run (protocol,
method, backbone, seed, overrides that make it cheap), the expected metrics and
the tolerance in percentage points. Baseline runs are deterministic on CPU;
the tolerance only absorbs floating-point differences between machines.
"""

import tempfile
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.protocol import ProtocolError


class Baseline(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    protocol: str
    method: str
    backbone: str
    seed: int
    overrides: list[str] = []
    #: "domain.metric" -> expected value in %, e.g. "target.pixel_acc" = 71.5
    expected: dict[str, float]
    tolerance: float


def load_baseline(path: Path) -> Baseline:
    try:
        return Baseline.model_validate(tomllib.loads(path.read_text()))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ProtocolError(f"{path}: not a valid drift baseline: {exc}") from None


def measured(record, key: str) -> float | None:
    domain, _, metric = key.partition(".")
    return record.metrics[domain].model_dump()[metric]


def compare(baseline: Baseline, record) -> list[dict]:
    rows = []
    for key, want in sorted(baseline.expected.items()):
        got = measured(record, key)
        ok = got is not None and abs(got - want) <= baseline.tolerance
        rows.append({"metric": key, "expected": want, "actual": got,
                     "tolerance": baseline.tolerance, "ok": ok})
    return rows


def run_drift(directory: Path, console) -> int:
    from rich.table import Table

    from harness.plan import make_plan
    from harness.run import execute

    files = sorted(Path(directory).glob("*.toml"))
    if not files:
        console.print(f"no baselines in {directory}", style="red", markup=False)
        return 1
    table = Table(title="drift against committed baselines", title_justify="left")
    for col in ("baseline", "metric", "expected", "actual", "tolerance", "status"):
        table.add_column(col)
    drifted = 0
    for path in files:
        base = load_baseline(path)
        with tempfile.TemporaryDirectory() as tmp:
            plan = make_plan(base.protocol, base.method, base.backbone, base.seed,
                             base.overrides, work_dir=Path(tmp) / "work",
                             results_dir=Path(tmp) / "records", quiet=True)
            record, _ = execute(plan)
        for row in compare(base, record):
            drifted += not row["ok"]
            actual = "-" if row["actual"] is None else f"{row['actual']:.2f}"
            status = "[green]ok[/]" if row["ok"] else "[bold red]DRIFT[/]"
            table.add_row(path.stem, row["metric"], f"{row['expected']:.2f}", actual,
                          f"±{row['tolerance']}", status)
    console.print(table)
    return 1 if drifted else 0
