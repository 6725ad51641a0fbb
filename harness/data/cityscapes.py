"""Cityscapes (Cordts et al. 2016), fine annotations: a target domain and, for NTHU, a source."""

from harness.data.seg_base import SegDataset, register
from harness.errors import DataError


@register
class Cityscapes(SegDataset):
    """Cityscapes leftImg8bit + gtFine; ``label_type`` picks labelIds (as shipped) or
    labelTrainIds (made by cityscapesScripts' createTrainIdLabelImgs.py)."""

    NAME = "cityscapes"
    LABELMAP = "cityscapes"
    # cityscapesScripts README; wasidennis/AdaptSegNet:dataset/cityscapes_list/{train,val}.txt
    SPLIT_SIZES = {"train": 2975, "val": 500, "test": 1525}
    LABELLED_SPLITS = ("train", "val")  # test gtFine files are placeholders
    LAYOUT = (
        "  leftImg8bit/{train,val,test}/<city>/<city>_<seq>_<frame>_leftImg8bit.png\n"
        "  gtFine/{train,val,test}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png"
    )
    _IMG_SUFFIX = "_leftImg8bit.png"
    _LABEL_SUFFIXES = {
        "labelIds": "_gtFine_labelIds.png",
        "labelTrainIds": "_gtFine_labelTrainIds.png",
    }

    def __init__(self, data_root, split, pipeline=None, subset=None, label_type="labelIds", **kw):
        if label_type not in self._LABEL_SUFFIXES:
            raise DataError(
                f"cityscapes label_type must be one of {list(self._LABEL_SUFFIXES)}, "
                f"not {label_type!r}"
            )
        self.label_type = label_type
        super().__init__(data_root, split, pipeline, subset, **kw)

    def labelmap_name(self):
        return "cityscapes" if self.label_type == "labelIds" else "cityscapes_trainids"

    def missing_label_fix(self) -> str:
        if self.label_type == "labelTrainIds":  # generated, never distributed
            return ("the archive does not ship *_gtFine_labelTrainIds.png: generate them with "
                    f"`harness data prepare --dataset cityscapes --data-root {self.root}`")
        return super().missing_label_fix()

    def options(self):
        return {"label_type": self.label_type}

    def image_dir(self):
        return self.root / "leftImg8bit" / self.split

    def label_dir(self):
        return self.root / "gtFine" / self.split

    def list_images(self):
        return sorted(self.image_dir().glob(f"*/*{self._IMG_SUFFIX}"))

    def label_path(self, image):
        stem = image.name[: -len(self._IMG_SUFFIX)]
        return self.label_dir() / image.parent.name / (stem + self._LABEL_SUFFIXES[self.label_type])

    def list_labels(self):
        return sorted(self.label_dir().glob(f"*/*{self._LABEL_SUFFIXES[self.label_type]}"))
