"""Option tick sizes and client-favourable rounding to them.

US equity options quote in a minimum increment that depends on the price level: below 3.00
one increment, at or above 3.00 another.  Penny-program classes: 0.01 / 0.05; other classes
0.05 / 0.10; SPY, QQQ and IWM trade in pennies at every price; SPX/SPXW (Cboe) 0.05 / 0.10.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["STEP_PRICE", "round_to_tick", "tick_at", "tick_sizes"]

STEP_PRICE = 3.00
"""Price at and above which the upper tick applies."""

_ALL_PENNY = frozenset({"SPY", "QQQ", "IWM"})
_INDEX_NICKEL = frozenset({"SPX", "SPXW"})
_EPS = 1e-9  # relative slack so that 1.15 / 0.05 counts as on the grid


def tick_sizes(root: str, penny: bool) -> tuple[float, float]:
    """(tick below 3.00, tick at/above 3.00) of an option root; ``penny`` = in the Penny
    Interval Program (ignored for the roots with their own rule)."""
    r = root.upper()
    if r in _ALL_PENNY:
        return 0.01, 0.01
    if r in _INDEX_NICKEL:
        return 0.05, 0.10
    return (0.01, 0.05) if penny else (0.05, 0.10)


def tick_at(price: ArrayLike, tick_below3: ArrayLike, tick_above3: ArrayLike) -> NDArray[np.float64]:
    """The tick in force at ``price`` (the lower one below 3.00)."""
    p = np.asarray(price, np.float64)
    return np.where(p < STEP_PRICE, tick_below3, tick_above3).astype(np.float64)


def _down(x: NDArray[np.float64], lo: NDArray[np.float64], hi: NDArray[np.float64]) -> NDArray[np.float64]:
    t = np.where(x < STEP_PRICE, lo, hi)
    return np.floor(x / t + _EPS) * t


def _up(x: NDArray[np.float64], lo: NDArray[np.float64], hi: NDArray[np.float64]) -> NDArray[np.float64]:
    # the grid above 3.00 starts at 3.00, so rounding up from just below 3 lands on 3.00
    t = np.where(x < STEP_PRICE, lo, hi)
    return np.ceil(x / t - _EPS) * t


def round_to_tick(price: ArrayLike, side: ArrayLike, tick_below3: ArrayLike,
                  tick_above3: ArrayLike, *, passive: bool) -> NDArray[np.float64]:
    """Round ``price`` to the tick grid of each row.

    ``passive=True`` (limits and posted prices): never through the price for the client -- a
    buy (side +1) rounds down, a sell (side -1) up.  ``passive=False``: the other way (a buy
    rounds up, a sell down), for a price that must be at least as aggressive as the target.
    Results are rounded to 1e-8 to drop float dust; NaN stays NaN; a buy rounded below one
    tick becomes 0.
    """
    p = np.asarray(price, np.float64)
    s = np.asarray(side)
    lo = np.asarray(tick_below3, np.float64)
    hi = np.asarray(tick_above3, np.float64)
    go_down = (s > 0) if passive else (s < 0)
    with np.errstate(invalid="ignore"):
        out = np.where(go_down, _down(p, lo, hi), _up(p, lo, hi))
    return np.asarray(np.round(np.maximum(out, 0.0), 8), dtype=np.float64)
