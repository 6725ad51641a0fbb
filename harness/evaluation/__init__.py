"""Evaluation; importing this package registers the confusion-matrix metric."""

from harness.evaluation import metric  # noqa: F401
