"""Discount-rate term structure for the engine: continuously compounded zero rates by years."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["DEFAULT_RATE", "RateCurve"]

DEFAULT_RATE = 0.045
"""Default flat rate (continuously compounded, Act/365): the simulator's own rate, and about the
US short rate of 2024-2025."""


class RateCurve:
    """Zero rates piecewise-linear in t_years between pillars, flat beyond the end pillars.

    ``RateCurve.flat(0.05)`` is a constant curve.  ``rate(t_years)`` is the continuously
    compounded zero rate to t_years, so the discount factor is exp(-rate * t_years).
    """

    def __init__(self, pillars_years: Sequence[float], rates: Sequence[float]) -> None:
        t = np.asarray(pillars_years, dtype=np.float64)
        r = np.asarray(rates, dtype=np.float64)
        if t.ndim != 1 or t.shape != r.shape or t.size == 0:
            raise ValueError("RateCurve: pillars_years and rates must be equal-length 1-D")
        if np.any(np.diff(t) <= 0):
            raise ValueError("RateCurve: pillars_years must increase strictly")
        if not np.all(np.isfinite(r)):
            raise ValueError("RateCurve: rates must be finite")
        self.pillars_years = t
        self.rates = r

    @classmethod
    def flat(cls, rate: float = DEFAULT_RATE) -> RateCurve:
        return cls([0.0], [rate])

    def rate(self, t_years: ArrayLike) -> NDArray[np.float64]:
        return np.interp(np.asarray(t_years, dtype=np.float64), self.pillars_years, self.rates)

    def __repr__(self) -> str:
        return f"RateCurve({self.pillars_years.tolist()}, {self.rates.tolist()})"
