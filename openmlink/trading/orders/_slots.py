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
publishes many brokers' states as one column batch.  ``jpn``/``jnupd``: the parentNumber and
numUpdates a fast re-pricing pass last journaled for the broker (in a packed ``pxp`` row) and
its broker body has not superseded yet (0: nothing owed).
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
        self.jpn = np.zeros(capacity, np.int64)
        self.jnupd = np.zeros(capacity, np.int64)

    def set_pk(self, slot: int, cells: dict[str, object]) -> None:
        """Store the pkey cells (store column name -> value) of the broker in ``slot``."""
        for name, v in cells.items():
            self._pk_column(name, v)[slot] = v
        self.pk_ok[slot] = True

    def _pk_column(self, name: str, sample: object) -> np.ndarray:
        """The pkey column ``name``, made (typed after ``sample``) or grown to every slot."""
        col = self.pk.get(name)
        if col is None or len(col) < len(self.rest):
            kind = object if isinstance(sample, str) else np.float64 if isinstance(sample, float) \
                else np.int64
            new = np.empty(len(self.rest), kind) if kind is object else \
                np.zeros(len(self.rest), kind)
            if col is not None:
                new[: len(col)] = col
            col = self.pk[name] = new
        return col

    def set_pks(self, slots: np.ndarray, columns: dict[str, list[object]]) -> None:
        """``set_pk`` of many brokers: ``columns`` holds one value per slot of ``slots``."""
        if not len(slots):
            return
        for name, vals in columns.items():
            self._pk_column(name, vals[0])[slots] = vals
        self.pk_ok[slots] = True

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
            self.jpn = np.concatenate([self.jpn, np.zeros(cap - len(self.jpn), np.int64)])
            self.jnupd = np.concatenate([self.jnupd, np.zeros(cap - len(self.jnupd), np.int64)])
            self.mkt = np.concatenate([self.mkt, np.full((cap - len(self.mkt), len(MKT_NAMES)),
                                                         np.nan)])
        self.n += 1
        return self.n - 1
