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
    """A clock that only moves when told to (tests, replays, the simulator).

    With ``unique=True`` successive readings differ by at least 1 ns (for send timestamps that
    must be unique), without ever running ahead of the next ``advance_to``'s target for long.
    """

    def __init__(self, start_ns: int = 0, *, unique: bool = False) -> None:
        self._now = start_ns
        self._unique = unique
        self._last = start_ns - 1

    def time_ns(self) -> int:
        if not self._unique:
            return self._now
        t = max(self._now, self._last + 1)
        self._last = t
        return t

    def advance_to(self, t_ns: int) -> None:
        if t_ns < self._now:
            raise ValueError(f"SimClock cannot go back from {self._now} to {t_ns}")
        self._now = t_ns
