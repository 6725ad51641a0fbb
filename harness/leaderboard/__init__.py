"""Leaderboards: result records -> one markdown page per protocol, plus an index.

``aggregate`` decides which runs count and reduces them over seeds, ``reported``
reads the papers' numbers, ``render`` writes markdown, ``plot`` the trade-off
plot, and ``build`` ties them together for ``harness leaderboard``.
"""

from harness.leaderboard.build import build_all, build_pages

__all__ = ["build_all", "build_pages"]
