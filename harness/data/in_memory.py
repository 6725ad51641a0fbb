"""The contract of datasets whose items need no worker process to load."""

from torch.utils.data import Dataset

from harness.registry import DATASETS


class InMemoryDataset(Dataset):
    """Items are slices of tensors held in memory, and reading one draws no random number.

    Training loaders serve such a dataset from the main process: a worker process
    would only copy tensors across processes, and on a 2-core machine it takes a
    core from the model (LeNet's iteration ran 1.3x slower with one worker). Since
    ``__getitem__`` consumes no random state, ``--resume`` still replays the data
    exactly (the loaders of other datasets keep at least one worker for that reason:
    :func:`harness.config.training_workers`).
    """


def in_memory(dataset_type: str) -> bool:
    """Whether the registered dataset ``dataset_type`` declares :class:`InMemoryDataset`."""
    cls = DATASETS.get(dataset_type)
    return isinstance(cls, type) and issubclass(cls, InMemoryDataset)
