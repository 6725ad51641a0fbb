"""The one-screen summary printed at the end of ``harness run`` and ``harness eval``."""

from rich.table import Table

from harness.evaluation.metrics import MISSING_RULE

#: Means over all of the protocol's classes: headlines only where it reports "all" (the
#: SYNTHIA and NTHU protocols never report the 19-class mean).
ALL_CLASS_MEANS = ("miou", "mean_acc", "fwiou")


def declared(metrics: dict, report_subsets) -> dict:
    """One domain's metrics with only the headline means the protocol declares.

    Per-class values, pixel accuracy and the confusion matrix are kept.
    """
    drop = () if "all" in report_subsets else ALL_CLASS_MEANS
    out = {k: v for k, v in metrics.items() if k not in drop}
    out["subsets"] = {n: v for n, v in metrics.get("subsets", {}).items() if n in report_subsets}
    if "variants" in metrics:
        out["variants"] = {n: declared(v, report_subsets) for n, v in metrics["variants"].items()}
    return out


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def metrics_table(title: str, metrics: dict[str, dict], task: str) -> Table:
    """One column per domain (target, source); rows: headline metrics, then classes.

    ``metrics``: as :func:`declared` leaves them (only the headlines present are shown).

    Vertical, so 19 classes and two domains fit a narrow terminal.
    """
    per_class = "iou" if task == "segmentation" else "acc"
    table = Table(title=title, title_justify="left", caption_justify="left")
    table.add_column("metric (%)")
    for domain in metrics:
        table.add_column(domain, justify="right")
    domains = list(metrics.values())
    if task == "segmentation":
        rows = [("mIoU", "miou"), ("fwIoU", "fwiou"), ("pixel acc", "pixel_acc")]
    else:
        rows = [("accuracy", "pixel_acc"), ("mean class acc", "mean_acc")]
    for label, key in rows:
        if key in domains[0]:
            table.add_row(label, *[_fmt(m[key]) for m in domains])
    for name in domains[0].get("subsets", {}):
        table.add_row(f"mIoU {name}", *[_fmt(m["subsets"][name]["miou"]) for m in domains])
    table.add_section()
    for i, cls in enumerate(domains[0]["classes"]):
        table.add_row(f"{per_class.upper() if per_class == 'iou' else 'acc'} {cls}",
                      *[_fmt(m[per_class][i]) for m in domains])
    table.caption = MISSING_RULE
    return table


def print_summary(record, path, console) -> None:
    metrics = {d: declared(m.model_dump(), record.classes.subsets)
               for d, m in record.metrics.items()}
    title = (f"{record.protocol.name} | {record.method.name} | {record.backbone.name} "
             f"| seed {record.seed} | {record.train.iters} iters "
             f"in {record.train.wall_time_s:.1f} s on {record.device.type}")
    console.print(metrics_table(title, metrics, record.protocol.task))
    console.print(f"record: {path}  (run id {record.run_id}, selection: "
                  f"{record.selection.rule})", markup=False)


def print_metrics(protocol, reports: dict[str, dict], console) -> None:
    """``reports``: as :func:`declared` leaves them."""
    console.print(metrics_table(f"{protocol.name} | evaluation", reports, protocol.task))
