"""Per-broker columns the re-pricing pass reads without touching broker objects: each broker
gets a slot (a row index, never reused) in growing arrays.

``rows``: the broker's limit inputs (``OrderManager._order_row``; valid where ``row_ok``),
``lims``: the six limit outputs in effect (limit/take/make price, limit/take/make error),
``rest``: the price at which
every live child rests when the broker is *quiet* (working, no hold, nothing pending, every
live child a resting maker at that one price within the workable size), NaN otherwise.  The
manager sets ``rest`` at the end of each broker's work and clears it on anything else that
touches the broker (a post, a venue event, a status change).  ``mkt``: the market of the
broker's last pass (``MKT_NAMES``), read through ``Broker.mkt``.  ``pk``: the broker's
SpdrParentBrkrState pkey in the store's column form (``set_pk``), so that a re-pricing pass
publishes many brokers' states as one column batch.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MKT_NAMES", "ROW_WIDTH", "BrokerColumns"]

ROW_WIDTH = 24
#: the market values a broker's records and risk read (``Broker.mkt`` keys), in ``mkt`` order
MKT_NAMES = ("bid", "ask", "bid_size", "ask_size", "u_bid", "u_ask", "u_prc", "s_vol", "s_prc",
             "s_mark", "de", "ga", "ve", "years", "point_value", "qv")


class BrokerColumns:
    def __init__(self, capacity: int = 1024) -> None:
        self.n = 0
        self.rows = np.full((capacity, ROW_WIDTH), np.nan)
        self.lims = np.full((capacity, 6), np.nan)
        self.rest = np.full(capacity, np.nan)
        self.row_ok = np.zeros(capacity, np.bool_)
        self.mkt = np.full((capacity, len(MKT_NAMES)), np.nan)
        self.series = np.full(capacity, -1, np.int64)  # index into the manager's series list
        self.pk: dict[str, np.ndarray] = {}
        self.pk_ok = np.zeros(capacity, np.bool_)

    def set_pk(self, slot: int, cells: dict[str, object]) -> None:
        """Store the pkey cells (store column name -> value) of the broker in ``slot``."""
        for name, v in cells.items():
            col = self.pk.get(name)
            if col is None or len(col) < len(self.rest):
                kind = object if isinstance(v, str) else np.float64 if isinstance(v, float) \
                    else np.int64
                new = np.empty(len(self.rest), kind) if kind is object else \
                    np.zeros(len(self.rest), kind)
                if col is not None:
                    new[: len(col)] = col
                col = self.pk[name] = new
            col[slot] = v
        self.pk_ok[slot] = True

    def new_slot(self) -> int:
        if self.n >= len(self.rest):
            cap = 2 * len(self.rest)
            self.rows = np.concatenate([self.rows, np.full((cap - len(self.rows), ROW_WIDTH),
                                                           np.nan)])
            self.lims = np.concatenate([self.lims, np.full((cap - len(self.lims), 6), np.nan)])
            self.rest = np.concatenate([self.rest, np.full(cap - len(self.rest), np.nan)])
            self.row_ok = np.concatenate([self.row_ok, np.zeros(cap - len(self.row_ok),
                                                                np.bool_)])
            self.series = np.concatenate([self.series, np.full(cap - len(self.series), -1,
                                                               np.int64)])
            self.pk_ok = np.concatenate([self.pk_ok, np.zeros(cap - len(self.pk_ok), np.bool_)])
            self.mkt = np.concatenate([self.mkt, np.full((cap - len(self.mkt), len(MKT_NAMES)),
                                                         np.nan)])
        self.n += 1
        return self.n - 1
