"""Transforms; importing this package registers them."""

from harness.transforms import resize, simcam  # noqa: F401
