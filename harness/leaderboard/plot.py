"""The source-vs-target trade-off plot of a protocol's reproduced rows."""

from pathlib import Path

from harness.leaderboard.aggregate import Reproduced, present, standard_error
from harness.protocol import Protocol


def plot_tradeoff(protocol: Protocol, rows: Reproduced, path: Path) -> None:
    """Source vs target headline metric, one point per row, standard-error bars.

    The argument of the Calibrator paper (seed 000, Fig. 2): adaptation that
    costs source accuracy is visible here, not in a target-only table.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    label = rows.points.iloc[0][2]  # the protocol's first headline, the same on every row
    for (_, row), (src, tgt, _) in zip(rows.table.iterrows(), rows.points, strict=True):
        src, tgt = present(src), present(tgt)
        if not len(src):  # external predictions: no source split was scored
            continue
        ax.errorbar(src.mean(), tgt.mean(), xerr=standard_error(src), yerr=standard_error(tgt),
                    fmt="o", capsize=3, label=f"{row['method']} ({row['backbone']})")
    ax.set_xlabel(f"source {label} (%)")
    ax.set_ylabel(f"target {label} (%)")
    ax.set_title(f"{protocol.name}: source vs target")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})  # no version stamp in the file
    plt.close(fig)
