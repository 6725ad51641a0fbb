"""Dataset wrappers used by the compile step."""

from torch.utils.data import Dataset

from harness.registry import DATASETS


@DATASETS.register_module()
class WithoutLabels(Dataset):
    """The unlabeled view of a split: items lose ``label``, so a UDA method cannot read them.

    Items gain ``index`` (their position in the split), the key under which
    self-training methods store pseudo-labels.
    """

    def __init__(self, dataset: dict | Dataset):
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.metainfo = getattr(self.dataset, "metainfo", {})

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict:
        item = dict(self.dataset[i])
        item.pop("label", None)
        item["index"] = i
        return item

    def fingerprint(self) -> str:
        return self.dataset.fingerprint()
