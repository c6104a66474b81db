"""Injected time (ARCHITECTURE principle 5): engines read time only from a ``Clock``."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "LiveClock", "SimClock"]


class Clock(Protocol):
    def time_ns(self) -> int:
        """Nanoseconds since the UNIX epoch (UTC)."""
        ...


class LiveClock:
    """Wall-clock time, strictly increasing between calls (unique send timestamps)."""

    def __init__(self) -> None:
        self._last = 0

    def time_ns(self) -> int:
        t = time.time_ns()
        if t <= self._last:
            t = self._last + 1
        self._last = t
        return t


class SimClock:
    """A clock that only moves when told to (tests, replays, the simulator)."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def time_ns(self) -> int:
        return self._now

    def advance_to(self, t_ns: int) -> None:
        if t_ns < self._now:
            raise ValueError(f"SimClock cannot go back from {self._now} to {t_ns}")
        self._now = t_ns
