"""Datasets; importing this package registers every dataset class and loading transform."""

from harness.data import digits, imagenet_val, mnist_m, seeded_split, segmentation, wrappers  # noqa: F401
