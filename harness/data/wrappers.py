"""Dataset wrappers used by the compile step."""

from torch.utils.data import Dataset

from harness.registry import DATASETS


@DATASETS.register_module()
class WithoutLabels(Dataset):
    """The unlabeled view of a split: items lose ``label``, so a UDA method cannot read them.

    Items gain ``index`` (their position in the split), the key under which
    self-training methods store pseudo-labels.
    """

    def __init__(self, dataset: dict | Dataset, pseudo_labels: bool = False):
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.metainfo = getattr(self.dataset, "metainfo", {})
        #: The dataset's ``label`` is a self-training pseudo-label (the dataset was
        #: built without its true labels): kept, as ``pseudo_label``.
        self.pseudo_labels = pseudo_labels

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict:
        item = dict(self.dataset[i])
        label = item.pop("label", None)
        if self.pseudo_labels:
            item["pseudo_label"] = label
        if "meta" in item:  # None for unlabeled files, which batches cannot collate
            item["meta"] = {k: v for k, v in item["meta"].items() if k != "label_path"}
        item["index"] = i
        return item

    def fingerprint(self) -> str:
        return self.dataset.fingerprint()
