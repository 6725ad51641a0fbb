"""NTHU cross-city (Chen et al. 2017): the four target cities of Cityscapes -> NTHU."""

from harness.data.seg_base import SegDataset, register

NTHU_CITIES = ("Rio", "Rome", "Taipei", "Tokyo")


@register
class NTHU(SegDataset):
    """NTHU cross-city: per city 3,200 unlabelled train images and 100 labelled test
    images; ``data_root`` is NTHU_Datasets/."""

    NAME = "nthu"
    LABELMAP = "nthu"
    # Counted in ZJULearning/MaxSquareLoss:datasets/NTHU_list/<City>/List/{train,test}.txt
    SPLIT_SIZES = {"train": 3200, "test": 100}
    LABELLED_SPLITS = ("test",)
    LAYOUT = (
        "  <City>/Images/Train/<stem>.jpg        (City: Rio, Rome, Taipei, Tokyo)\n"
        "  <City>/Images/Test/<stem>.png|.jpg\n"
        "  <City>/Labels/Test/<stem>_eval.png    (8-bit, Cityscapes labelIds)"
    )
    _EXTENSIONS = {"train": (".jpg",), "test": (".png", ".jpg")}

    def __init__(self, data_root, split, pipeline=None, subset=None, city="Rome", **kw):
        match = [c for c in NTHU_CITIES if c.lower() == str(city).lower()]
        if not match:
            raise ValueError(f"nthu city must be one of {', '.join(NTHU_CITIES)}, not {city!r}")
        self.city = match[0]
        super().__init__(data_root, split, pipeline, subset, **kw)

    def options(self):
        return {"city": self.city}

    def image_dir(self):
        return self.root / self.city / "Images" / self.split.capitalize()

    def label_dir(self):
        return self.root / self.city / "Labels" / self.split.capitalize()

    def list_images(self):
        exts = self._EXTENSIONS[self.split]
        return sorted(p for p in self.image_dir().iterdir() if p.suffix in exts)

    def label_path(self, image):
        return self.label_dir() / f"{image.stem}_eval.png"

    def list_labels(self):
        return sorted(self.label_dir().glob("*_eval.png"))
