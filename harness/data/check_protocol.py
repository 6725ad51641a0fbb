"""``harness data check``: every problem of a protocol's data, in one table."""

from pathlib import Path

from rich.table import Table

from harness.protocol import load_protocol


def protocol_problems(protocol_name: str, data_root: Path | None, sets: dict | None = None):
    """(domain, Problem) for every problem of both domains of the protocol.

    Counts are checked against the official sizes of the splits the protocol
    uses, or against ``options.subset`` where the protocol declares one.
    """
    from harness.compile import default_data_root
    from harness.data.check import check_dataset
    from harness.data.seg_base import seg_datasets

    p = load_protocol(protocol_name, sets or {})
    root = default_data_root(data_root)
    found = []
    for domain_name in ("source", "target"):
        domain = getattr(p, domain_name)
        if domain.dataset not in seg_datasets():
            found += [(domain_name, pr) for pr in _check_builtin(domain, root)]
            continue
        used = sorted({domain.train_split, domain.test_split})
        options = {k: v for k, v in domain.options.items() if k not in ("subset", "stride")}
        subset = domain.options.get("subset")
        splits = {s: subset for s in used} if subset else None
        problems = check_dataset(domain.dataset, root / domain.data_root, splits, only=used,
                                 **options)
        found += [(domain_name, pr) for pr in problems]
    return found


def _check_builtin(domain, root: Path):
    """Digit datasets: building them reads the files and verifies the pinned split."""
    from harness.data.seg_base import Problem
    from harness.registry import DATASETS

    problems = []
    for split in (domain.train_split, domain.test_split):
        try:
            extra = {} if domain.data_root is None else {"data_root": str(root / domain.data_root)}
            DATASETS.build({"type": domain.dataset, "split": split, **domain.options, **extra})
        except Exception as exc:  # every failure is reported, none stops the check
            problems.append(Problem(f"{domain.dataset}:{split}", str(exc),
                                    "reinstall the package that ships it, or fix the protocol"))
    return problems


def check_protocol_data(protocol_name: str, data_root: Path | None, console,
                        sets: dict | None = None) -> int:
    found = protocol_problems(protocol_name, data_root, sets)
    errors = [pr for _, pr in found if pr.severity == "error"]
    if not found:
        console.print(f"{protocol_name}: data OK", style="green", markup=False)
        return 0
    table = Table(title=f"{protocol_name}: {len(errors)} error(s), "
                        f"{len(found) - len(errors)} warning(s)", title_justify="left")
    for col in ("domain", "severity", "path", "problem", "fix"):
        table.add_column(col, overflow="fold")
    for domain, pr in found:
        table.add_row(domain, pr.severity, pr.path, pr.problem, pr.fix)
    console.print(table)
    return 1 if errors else 0
