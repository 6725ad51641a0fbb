"""uda-harness: run unsupervised domain adaptation methods on fixed protocols.

Importing this package is cheap on purpose (no torch, no mmseg): the CLI's
`list` and `--help` verbs must start fast.
"""

from pathlib import Path

__version__ = "0.1.0"

#: The checkout the package runs from (protocols/, results/, leaderboards/ live here).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
