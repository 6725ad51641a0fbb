"""Backbones; importing this package registers every model."""

from harness.models import deeplabv2, drn, fcn8s, lenet, vgg  # noqa: F401
