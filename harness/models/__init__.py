"""Backbones; importing this package registers every model."""

from harness.models import lenet  # noqa: F401
