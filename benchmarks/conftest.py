"""Shared by the benchmarks: two cases timed alternately, round by round (``paired``).

Cases that run one after another on a shared machine see its speed change between them,
which moves their ratio by more than the overhead being measured; within a round both
sides see the same machine, and alternating which goes first cancels a trend.
"""

import statistics
import time
from collections.abc import Callable

import pytest


class Paired:
    """Rounds of every case, each round's ratio kept; median and quartiles reported."""

    def __init__(self, benchmark):
        self.benchmark = benchmark
        self.ratios: list[float] = []

    @staticmethod
    def timed(fn: Callable[[], object]) -> Callable[[], float]:
        """``fn`` as a case: its wall-clock seconds."""
        def run() -> float:
            start = time.perf_counter()
            fn()
            return time.perf_counter() - start
        return run

    def _round(self, cases: dict[str, Callable[[], float]], over: tuple[str, str]) -> None:
        order = list(cases) if len(self.ratios) % 2 == 0 else list(cases)[::-1]
        seconds = {name: cases[name]() for name in order}
        self.ratios.append(seconds[over[0]] / seconds[over[1]])

    def run(self, cases: dict[str, Callable[[], float]], over: tuple[str, str], rounds: int,
            label: str) -> list[float]:
        """``rounds`` rounds of ``cases`` (each returns its seconds), first-to-last on even
        rounds and last-to-first on odd ones; each round's seconds[over[0]] /
        seconds[over[1]] is kept. Median and quartiles go to ``extra_info`` and are printed."""
        self.benchmark.pedantic(self._round, args=(cases, over), rounds=rounds)
        if len(self.ratios) > 1:  # one round when benchmarks are disabled
            low, median, high = statistics.quantiles(self.ratios, n=4)
            self.benchmark.extra_info.update(
                ratio_median=round(median, 3), ratio_q1=round(low, 3), ratio_q3=round(high, 3),
                rounds=len(self.ratios))
            print(f"\n{label}, paired rounds: median {median:.3f} "
                  f"(quartiles {low:.3f}-{high:.3f}, {len(self.ratios)} rounds)")
        return self.ratios


@pytest.fixture
def paired(benchmark) -> Paired:
    return Paired(benchmark)
