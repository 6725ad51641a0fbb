"""Office-31 (Saenko et al., ECCV 2010): amazon, dslr and webcam, 31 office object classes.

Layout as distributed (``domain_adaptation_images.tar.gz``) and as TLlib reads it
(thuml/Transfer-Learning-Library tllib/vision/datasets/office31.py, image lists
``<domain>/images/<class>/<file>.jpg``)::

    <data_root>/amazon/images/back_pack/frame_0001.jpg
    <data_root>/dslr/images/...
    <data_root>/webcam/images/...

Office-31 has no train/test split: adaptation uses every image of both domains
(target labels removed) and evaluates on every target image (CDAN, Long et al.
NeurIPS 2018, Sec. 5; TLlib uses the same list for training and testing). The
split is therefore ``all``; the protocol's train and test options differ only in
augmentation.
"""

from pathlib import Path

from harness.data.classes import OFFICE31_NAMES
from harness.data.image_lists import (
    ImageListDataset,
    ImageSetError,
    Sample,
    check_count,
)
from harness.data.seg_base import Problem
from harness.names import check_name
from harness.registry import DATASETS

#: Images per domain (TLlib's image lists amazon.txt / dslr.txt / webcam.txt).
OFFICE31_COUNTS = {"amazon": 2817, "dslr": 498, "webcam": 795}
_FIX = "extract domain_adaptation_images.tar.gz again (<domain>/images/<class>/*.jpg)"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def office31_samples(root: Path, domain: str) -> list[Sample]:
    """Every image of ``domain`` with its class index, sorted; all problems in one error."""
    check_name("Office-31 domain", domain, OFFICE31_COUNTS)
    images = Path(root) / domain / "images"
    if not images.is_dir():
        raise ImageSetError([Problem(str(images), "missing: the domain folder is not there",
                                     f"check --data-root; {_FIX}")])
    present = {p.name for p in images.iterdir() if p.is_dir()}
    if not present:
        raise ImageSetError([Problem(str(images), "empty domain: no class folders", _FIX)])
    problems = [Problem(str(images / name), "missing class folder", _FIX)
                for name in OFFICE31_NAMES if name not in present]
    problems += [Problem(str(images / name), "is not an Office-31 class (unknown folder)",
                         "remove it; the 31 classes are " + ", ".join(OFFICE31_NAMES))
                 for name in sorted(present - set(OFFICE31_NAMES))]
    samples = []
    for label, name in enumerate(OFFICE31_NAMES):
        if name not in present:
            continue
        files = sorted(p for p in (images / name).iterdir()
                       if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not files:
            problems.append(Problem(str(images / name), "class folder holds no images", _FIX))
        samples += [Sample(p, label) for p in files]
    if problems:
        raise ImageSetError(problems)
    return samples


@DATASETS.register_module(name="office31")
class Office31(ImageListDataset):
    """One Office-31 domain; ``size``/``crop``/``augment`` as TLlib's default transforms
    (ResizeImage(256), then RandomResizedCrop(224) and flip, or CenterCrop(224))."""

    def __init__(self, data_root: str, domain: str, split: str = "all", size: int = 256,
                 crop: int | None = 224, augment: bool = False, labels: bool = True,
                 subset: int | None = None):
        check_name("split of Office-31", split, ["all"])
        samples = office31_samples(Path(data_root), domain)
        where = str(Path(data_root) / domain)
        samples = check_count(samples, OFFICE31_COUNTS[domain], subset, where, _FIX)
        super().__init__(f"Office-31 {domain}", samples, size, crop, augment, labels)
