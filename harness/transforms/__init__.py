"""Transforms; importing this package registers them."""

from harness.transforms import simcam  # noqa: F401
