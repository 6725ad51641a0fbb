"""Datasets; importing this package registers every dataset class and loading transform."""

from harness.data import digits, segmentation, wrappers  # noqa: F401
