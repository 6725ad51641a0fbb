"""BDD100K (Yu et al. 2020) semantic segmentation: the target of GTA5 -> BDD."""

from harness.data.seg_base import SegDataset, register


@register
class BDD100K(SegDataset):
    """BDD100K semantic segmentation, 10K images; masks already hold trainIds."""

    NAME = "bdd100k"
    LABELMAP = "bdd100k"
    SPLIT_SIZES = {"train": 7000, "val": 1000, "test": 2000}  # datasets.md 7.2
    LABELLED_SPLITS = ("train", "val")
    LAYOUT = (
        "  images/10k/{train,val,test}/<name>.jpg\n"
        "  labels/sem_seg/masks/{train,val}/<name>.png   (8-bit, trainIds 0..18, 255)"
    )

    def image_dir(self):
        return self.root / "images" / "10k" / self.split

    def label_dir(self):
        return self.root / "labels" / "sem_seg" / "masks" / self.split

    def list_images(self):
        return sorted(self.image_dir().glob("*.jpg"))

    def label_path(self, image):
        return self.label_dir() / f"{image.stem}.png"

    def list_labels(self):
        return sorted(self.label_dir().glob("*.png"))
