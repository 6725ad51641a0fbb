"""Transforms; importing this package registers them."""

from harness.transforms import pseudo_label, resize, simcam  # noqa: F401
