"""The time a search's budget logic reads: the wall clock, or a simulated one in tests.

Budget and deadline decisions (may a trial start, has the budget run out) take a
:class:`Clock`, so their tests advance a :class:`SimulatedClock` instead of sleeping
and asserting on wall-clock percentages of a shared machine.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch, as ``time.time()``."""
        ...


class WallClock:
    """The real time."""

    def time(self) -> float:
        return time.time()


class SimulatedClock:
    """A clock that moves only when told to (``advance``)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock only moves forward, got {seconds!r} s")
        self.now += seconds


def working_time(budget: float) -> float:
    """The part of a time budget trials may use: room is left for stopping them and
    shutting Ray down, so the call as a whole ends within the budget."""
    return max(budget * 0.5, budget - min(0.02 * budget + 2.0, 15.0))
