"""Fail fast on an absent dataset folder, before any model is built or file is written.

The readers check every file when a run builds its loaders, but that comes after the
Runner has built the model (seconds for DeepLab-v2 or FCN8s-VGG16); a user who has
not put the data in place should get the fix at once, in one line.
"""

from harness.errors import DataMissingError


def require_dataset_folders(plan, domains: tuple[str, ...]) -> None:
    """Each of ``domains`` whose dataset is read from the data root must have its folder.

    Datasets shipped inside pip packages (``data_root`` unset) have nothing to check.
    """
    p = plan.protocol
    for name in domains:
        domain = getattr(p, name)
        if domain.data_root is None:
            continue
        folder = plan.data_root / domain.data_root
        if folder.is_dir():
            continue
        # data_root "." means the files lie directly in the data root.
        holds = "the files" if folder == plan.data_root else f"{domain.data_root}/"
        raise DataMissingError(
            f"{p.name}: the {name} dataset {domain.dataset!r} should be in {folder}, which "
            f"does not exist. Fix: put its files there as distributed (which files: `harness "
            f"data check --protocol {p.name}`; downloads where they are allowed: `harness "
            f"data fetch --protocol {p.name}`), or pass --data-root (or set $HARNESS_DATA) "
            f"to the folder that holds {holds}"
        )
