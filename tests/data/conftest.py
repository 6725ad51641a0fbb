"""Shared fixtures of the segmentation dataset tests: tiny dataset copies and a grid check.

The fixture labels are small id grids stretched to the image size
(:mod:`harness.data.fixtures`); a loaded label is checked at the centre of each cell.
"""

import numpy as np
import pytest
import torch
from PIL import Image

from harness.data.fixtures import write_fixtures
from harness.data.seg_base import seg_dataset_class

#: (width, height) of every fixture image: ``write_fixtures``' default.
SIZE = (64, 32)


def _cell_centres(img, rows, cols):
    height, width = img.shape[-2:]
    ys = [int((r + 0.5) * height / rows) for r in range(rows)]
    xs = [int((c + 0.5) * width / cols) for c in range(cols)]
    return img[..., ys, :][..., xs]


@pytest.fixture
def cell_centres():
    """``cell_centres(label, rows, cols)``: the value at the centre of each grid cell."""
    return _cell_centres


@pytest.fixture(scope="session")
def seg_root(tmp_path_factory):
    """``seg_root(name)``: a shared copy of ``name`` with 3 samples per split; do not modify."""
    roots = {}

    def root(name):
        if name not in roots:
            roots[name] = write_fixtures(name, tmp_path_factory.mktemp(name), 3, SIZE)
        return roots[name]

    return root


@pytest.fixture
def assert_loader_gives(seg_root):
    """``assert_loader_gives(name, split, options, expected)``: the 3 samples of the fixture copy
    load as uint8 RGB and int64 trainIds, sample ``i`` being ``expected`` rolled by ``i``."""

    def check(name, split, options, expected):
        ds = seg_dataset_class(name)(str(seg_root(name)), split, **options)
        expected = np.asarray(expected)
        assert len(ds) == 3  # the decoy files of the fixture are not listed
        for i in range(3):
            item = ds[i]
            assert item["inputs"].dtype == torch.uint8
            assert item["inputs"].shape == (3, SIZE[1], SIZE[0])
            assert item["label"].dtype == torch.int64 and item["label"].shape == (SIZE[1], SIZE[0])
            grid = _cell_centres(item["label"].numpy(), *expected.shape)
            assert grid.tolist() == np.roll(expected, i, axis=1).tolist()
            assert item["meta"]["ori_shape"] == (SIZE[1], SIZE[0])
        # The image is the RGB file content, unchanged.
        rgb = np.asarray(Image.open(ds[0]["meta"]["img_path"]).convert("RGB"))
        assert (ds[0]["inputs"].permute(1, 2, 0).numpy() == rgb).all()

    return check
