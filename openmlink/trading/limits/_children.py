"""Child-order prices (make side, by parentBalanceHandling) and public sizes (by publicSize)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["DEFAULT_MKT_SIZE", "child_prices", "child_sizes", "split_sizes"]

DEFAULT_MKT_SIZE = 10
"""Typical market size assumed when a series has no average NBBO size yet."""


def child_prices(make_limit: ArrayLike, side: ArrayLike, bid: ArrayLike, ask: ArrayLike,
                 balance_handling: ArrayLike, tick_below3: ArrayLike,
                 tick_above3: ArrayLike) -> NDArray[np.float64]:
    """Price of each order's posted (make) child; NaN = post nothing.

    ``balance_handling`` ordinals (``BALANCE``): PostWith = join the own NBBO side; PostImprove
    = one tick better than the own side; PostLimit = at the make limit; PostTurn = one tick
    inside the opposite side.  Every price is then capped by the make limit (rounded
    passively: a buy never above it, a sell never below) and kept strictly inside the opposite
    NBBO (a buy at most one tick below the ask), on the tick grid.
    """
    raise NotImplementedError


def child_sizes(workable: ArrayLike, public_size: ArrayLike, avg_mkt_size: ArrayLike,
                rng: np.random.Generator) -> NDArray[np.int64]:
    """Total public child size per order (spec section 1.6), never above ``workable``.

    ``public_size`` ordinals (``PUBLIC_SIZE``): FullSize = W; FullSizeR = uniform integer in
    [ceil(0.8 W), W]; MktSize (and MktSizeA/B/C, and None = algo default) = min(W, average
    market size); Max25Pct/Max50Pct/Max75Pct = min(W, ceil(NN% W)); Randomize = uniform
    integer in [1, min(W, average market size)]; NoSize = 0.  Draws come from ``rng``.
    """
    raise NotImplementedError


def split_sizes(total: ArrayLike, num_exchanges: ArrayLike) -> NDArray[np.int64]:
    """(n, max k) sizes of ``total`` split evenly over ``num_exchanges`` (1-4) exchanges,
    the remainder going to the first ones; zero columns past an order's k."""
    raise NotImplementedError
