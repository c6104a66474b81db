"""A bounded memo of model prices keyed by a row's exact pricing inputs.

The ALO American value of a row is the costly part of a Vol or surface limit (one exercise
boundary per row when the row shares no expiry with enough others).  A re-pricing pass after a
quote-only move (the most frequent kind) prices the same rows at the same vols on the same
underlier again: the memo hands back those values instead.  A hit needs every input equal to
the last bit (vol, underlier, strike, years, rate, carry, dividends, forward offset, call/put,
exercise style, price type), so a hit is the value the kernel gave for exactly these inputs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

__all__ = ["PriceMemo"]

F64 = NDArray[np.float64]


class PriceMemo:
    """Model prices by exact inputs, at most ``max_entries`` (the oldest entries go first)."""

    def __init__(self, max_entries: int = 200_000) -> None:
        if max_entries < 1:
            raise ValueError("PriceMemo: max_entries must be >= 1")
        self.max_entries = max_entries
        self._d: dict[bytes, float] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._d)

    def prices(self, inputs: F64, price: Callable[[NDArray[np.int64]], F64]) -> F64:
        """The price of each row of ``inputs`` (one row of float64 inputs per price):
        remembered ones from the memo, the others from ``price(rows)`` (the row indices to
        price, in increasing order), which are remembered."""
        n = len(inputs)
        out = np.empty(n)
        if n == 0:
            return out
        raw = np.ascontiguousarray(inputs, np.float64).tobytes()
        w = len(raw) // n
        keys = [raw[i * w:(i + 1) * w] for i in range(n)]
        get = self._d.get
        found = np.fromiter((get(k, np.nan) for k in keys), np.float64, n)
        known = np.fromiter((k in self._d for k in keys), np.bool_, n)
        miss = np.flatnonzero(~known)
        out[known] = found[known]
        self.hits += n - len(miss)
        self.misses += len(miss)
        if len(miss):
            px = np.asarray(price(miss), np.float64)
            out[miss] = px
            self._d.update(zip((keys[i] for i in miss.tolist()), px.tolist(), strict=True))
            excess = len(self._d) - self.max_entries
            if excess > 0:
                for k in list(itertools.islice(iter(self._d), excess)):
                    del self._d[k]
        return out
