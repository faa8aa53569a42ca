"""One clock abstraction: wall time in production, simulated time in the simulator.

Everything that needs "now" takes a `Clock`, so a shift can run hundreds of times
faster than real time and deterministically from a seed.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on this clock (monotonic within a run)."""
        ...


class WallClock:
    """Real time, as Unix seconds (so stored times read as dates)."""

    def now(self) -> float:
        return time.time()


class SimClock:
    """Simulated time that only moves when the simulation advances it."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._t = float(start_s)

    def now(self) -> float:
        return self._t

    def advance(self, dt_s: float) -> float:
        if dt_s < 0:
            raise ValueError(f"a clock cannot go back ({dt_s} s)")
        self._t += dt_s
        return self._t

    def set(self, t_s: float) -> None:
        if t_s < self._t:
            raise ValueError(f"a clock cannot go back from {self._t} to {t_s}")
        self._t = t_s
