"""Datasets; importing this package registers every dataset class and loading transform."""

from harness.data import (  # noqa: F401
    digits,
    gtsrb,
    imagenet_val,
    mnist_m,
    office31,
    segmentation,
    synsigns,
    wrappers,
)
