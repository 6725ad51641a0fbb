"""What the simulated-camera datasets share: a camera by name and a split by id range.

AdapterNet (seed 003 §4) splits one image set by image id into adaptation-train,
validation and test ranges, and shows every image through a simulated camera
(§5). A dataset option ``camera = "none"`` is the clean camera.
"""

from collections.abc import Callable, Mapping, Sequence

import torch

from harness.errors import DataError
from harness.names import check_name
from harness.transforms.simcam import SIMULATED_CAMERAS

CLEAN = "none"


def build_camera(name: str, where: str) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The paper's camera called ``name``; ``None`` for the clean camera."""
    check_name(f"camera of {where}", name, [CLEAN, *SIMULATED_CAMERAS])
    return None if name == CLEAN else SIMULATED_CAMERAS[name]()


def id_range(ranges: Mapping[str, Sequence[int]], split: str, where: str) -> range:
    """The ids of ``split`` given ``{split: [first, last]}`` (inclusive, pairwise disjoint)."""
    spans = {}
    for name, bounds in ranges.items():
        if (len(bounds) != 2 or not all(isinstance(b, int) for b in bounds)
                or not 0 <= bounds[0] <= bounds[1]):
            raise DataError(
                f"{where}: id range {name} = {list(bounds)} must be [first, last] with "
                "0 <= first <= last (both inclusive), e.g. [45001, 50000]"
            )
        spans[name] = range(bounds[0], bounds[1] + 1)
    names = sorted(spans, key=lambda n: spans[n].start)
    for left, right in zip(names, names[1:]):
        if spans[left].stop > spans[right].start:
            raise DataError(
                f"{where}: id ranges {left} {list(ranges[left])} and {right} "
                f"{list(ranges[right])} overlap; the splits must be disjoint"
            )
    check_name(f"split of {where}", split, spans)
    return spans[split]
