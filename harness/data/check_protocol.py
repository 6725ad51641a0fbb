"""``harness data check``: every problem of a protocol's data, as a table or as log lines."""

from pathlib import Path

from rich.table import Table
from rich.text import Text

from harness import paths
from harness.protocol import load_protocol


def protocol_problems(protocol_name: str, data_root: Path | None, sets: dict | None = None):
    """(domain, Problem) for every problem of both domains of the protocol.

    Counts are checked against the official sizes of the splits the protocol
    uses, or against ``options.subset`` where the protocol declares one.
    """
    from harness.data.layout_check import check_dataset
    from harness.data.seg_base import seg_datasets

    p = load_protocol(protocol_name, sets or {})
    root = paths.data_root(data_root)
    found = []
    for domain_name in ("source", "target"):
        domain = getattr(p, domain_name)
        if domain.dataset not in seg_datasets():
            found += [(domain_name, pr) for pr in _check_built(domain, root)]
            continue
        used = sorted({domain.train_split, domain.test_split})
        options = {k: v for k, v in domain.options.items() if k not in ("subset", "stride")}
        subset = domain.options.get("subset")
        splits = {s: subset for s in used} if subset else None
        problems = check_dataset(domain.dataset, root / domain.data_root, splits, only=used,
                                 **options)
        found += [(domain_name, pr) for pr in problems]
    return found


def _check_built(domain, root: Path):
    """Digit and image-set datasets: building one reads and validates its files (the
    readers of ``harness.data.digit_readers`` report every finding) and verifies a
    pinned split, exactly as a run's loader does."""
    from harness.data.digit_readers import DigitFileError
    from harness.data.image_lists import ImageSetError
    from harness.data.seg_base import Problem
    from harness.registry import DATASETS

    problems = []
    for split, test in ((domain.train_split, False), (domain.test_split, True)):
        # The same constructor options as the run's config (harness.config).
        cfg = {"type": domain.dataset, "split": split, **domain.options,
               **(domain.test_options if test else {})}
        if domain.data_root is not None:
            cfg["data_root"] = str(root / domain.data_root)
        try:
            DATASETS.build(cfg)
        except (DigitFileError, ImageSetError) as exc:
            problems += exc.problems
        except Exception as exc:  # every failure is reported, none stops the check
            problems.append(Problem(f"{domain.dataset}:{split}", str(exc),
                                    "reinstall the package that ships it, or fix the protocol"))
    return list(dict.fromkeys(problems))  # both splits may read the same file


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def check_protocol_data(protocol_name: str, data_root: Path | None, console,
                        sets: dict | None = None) -> int:
    """Print every problem; 1 if any is an error. On a terminal, one table; otherwise
    (CI logs, pipes) one problem per unwrapped line, so a path is never split and
    ``grep`` finds it."""
    found = protocol_problems(protocol_name, data_root, sets)
    errors = [pr for _, pr in found if pr.severity == "error"]
    if not found:
        console.print(f"{protocol_name}: data OK", style="green", markup=False)
        return 0
    title = f"{protocol_name}: {len(errors)} error(s), {len(found) - len(errors)} warning(s)"
    print_problems(title, found, console)
    return 1 if errors else 0


def print_problems(title: str, found, console) -> None:
    """(domain, Problem) pairs: on a terminal, one table; otherwise (CI logs, pipes) one
    problem per unwrapped line, so a path is never split and ``grep`` finds it."""
    if not console.is_terminal:
        lines = [title] + [
            f"{pr.severity}: {domain}: {pr.path}: {_one_line(pr.problem)}; "
            f"fix: {_one_line(pr.fix)}"
            for domain, pr in found
        ]
        for line in lines:
            console.print(line, soft_wrap=True, markup=False, highlight=False, emoji=False)
        return
    table = Table(title=title, title_justify="left")
    for col in ("domain", "severity", "path", "problem", "fix"):
        table.add_column(col, overflow="fold")
    for domain, pr in found:
        table.add_row(*(Text(v) for v in (domain, pr.severity, pr.path, pr.problem, pr.fix)))
    console.print(table)
