"""From theoretical values to exchange-legal quotes: widths, tick rounding, sizes.

Pure functions over arrays. Tick sizes follow the option class: ``lo`` below $3.00 and
``hi`` at $3.00 and above, chosen per side from the unrounded price, so that every bid is a
multiple of the tick of its own price level.
"""

from __future__ import annotations

import numpy as np

__all__ = ["STEP_PRICE", "round_ask", "round_bid", "quote_prices", "quote_sizes", "tick_of"]

#: the price at which the tick steps up (Penny Interval Program and standard classes)
STEP_PRICE = 3.0
_EPS = 1e-9


def tick_of(price: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.where(price < STEP_PRICE - _EPS, lo, hi)


def round_bid(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Largest legal price <= x (0 when x is below one tick)."""
    t = tick_of(x, lo, hi)
    b = np.round(np.floor(x / t + _EPS) * t, 2)
    return np.where(x < lo - _EPS, 0.0, b)


def round_ask(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Smallest legal price >= x (at least one tick)."""
    t = tick_of(x, lo, hi)
    a = np.round(np.ceil(x / t - _EPS) * t, 2)
    return np.maximum(a, lo)


def quote_prices(theo: np.ndarray, rel_width: np.ndarray, moneyness_sd: np.ndarray,
                 lo: np.ndarray, hi: np.ndarray,
                 jitter: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask around ``theo``: bid <= theo <= ask, both on the tick grid.

    Width = one small tick + ``rel_width`` of the price, widening by a quarter per standard
    deviation of moneyness (capped at 6), times a random ``jitter`` factor (~1).
    """
    width = (lo + rel_width * theo * (1.0 + 0.25 * np.minimum(np.abs(moneyness_sd), 6.0)))
    width = width * jitter
    bid = round_bid(theo - 0.5 * width, lo, hi)
    ask = round_ask(theo + 0.5 * width, lo, hi)
    ask = np.where(ask <= bid, round_ask(bid + lo, lo, hi), ask)
    return bid, ask


def quote_sizes(rng: np.random.Generator, bid: np.ndarray,
                price: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bidSize, askSize, cumBidSize, cumAskSize): geometric sizes, larger for cheap
    options; no size on a zero bid."""
    n = len(price)
    scale = np.where(price < 1.0, 5, np.where(price < 10.0, 2, 1))
    bsz = rng.geometric(0.12, n) * scale
    asz = rng.geometric(0.12, n) * scale
    bsz = np.where(bid > 0, bsz, 0)
    cbsz = bsz * rng.integers(1, 5, n)
    casz = asz * rng.integers(1, 5, n)
    return bsz, asz, cbsz, casz
