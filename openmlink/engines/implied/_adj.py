"""LiveImpliedQuoteAdj: LiveImpliedQuote moved to the latest underlier price, computed when read
(mlink-protocol.md section 6).

``adjust`` is the pure rule set over columns; ``ImpliedQuoteAdjuster`` keeps the Adj table of a
``Store`` current: registered with ``store.computed_on_read("LiveImpliedQuoteAdj", refresh)``,
each read first recomputes only the rows whose parent changed (the parent table's change log)
or whose underlier mid moved since the row was last adjusted, as column operations.

Rules, checked in this order (first match wins), S0 = parent uPrc, S1 = live underlier mid
(StockBookQuote: mid of bidPrice1/askPrice1, one side when only one is positive), dU = S1 - S0:
NullOption (no parent record) -> no adjustment; StaleUPrc (no underlier quote) -> parent values;
InvalidUPrc (S1 <= 0) -> parent values; UPrcRangeErr (|ln(S1/S0)| > 0.15) -> parent values;
OtherError (de, ga or ve NaN, or S0 not positive) -> parent values; OK ->
    uprc = S1;  de = clip(de + ga dU, -1, 1);  move = de dU + ga dU^2 / 2
    sprc = max(sprc + move, 0);  smrk = smrk + move, clamped into [obid, oask] if two-sided
    obiv/oaiv = clip(iv - move / (100 ve), VOL_MIN, VOL_MAX)   (ve per vol point)
    synSpot = S1 * synSpot / S0;  timestamp = now.
Every other field is the parent's (calcErr as its enum name text).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ...clock import Clock
from ...store import Store, Table
from ._enums import ordinal

__all__ = ["ADJ_RANGE", "VOL_MAX", "VOL_MIN", "ImpliedQuoteAdjuster", "adjust"]

ADJ_RANGE = 0.15  # max |ln(S1/S0)|
VOL_MIN = 0.001
VOL_MAX = 10.0

#: parent (LiveImpliedQuote) column -> Adj column, copied unless adjusted
COPY = {
    "uPrc": "uprc", "years": "years", "rate": "rate", "sdiv": "sdiv", "ddiv": "ddiv",
    "oBid": "obid", "oAsk": "oask", "oBidIv": "obiv", "oAskIv": "oaiv", "atmVol": "satm",
    "xAxis": "smny", "sVol": "svol", "sPrc": "sprc", "sMark": "smrk", "veSlope": "veSlope",
    "de": "de", "ga": "ga", "th": "th", "ve": "ve", "va": "va", "vo": "vo", "ro": "ro", "ph": "ph",
    "deDecay": "deDecay", "up50": "up50", "dn50": "dn50", "up15": "up15", "dn15": "dn15",
    "up06": "up06", "dn08": "dn08", "synSpot": "synSpot", "priceType": "priceType",
    "calcSource": "calcSource",
}


def adjust(parent: Mapping[str, NDArray[Any]], has_parent: NDArray[np.bool_],
           s1: NDArray[np.float64], now_ns: int) -> dict[str, NDArray[Any]]:
    """The Adj columns (``COPY`` targets, ``uPrcAdjResult``, ``timestamp``) for parent rows.

    ``parent`` holds LiveImpliedQuote columns (float fields as float64); ``s1`` is the live
    underlier price per row, NaN where there is none.
    """
    n = len(s1)
    out: dict[str, NDArray[Any]] = {dst: np.array(parent[src], copy=True) for src, dst in COPY.items()}
    s0 = np.asarray(parent["uPrc"], np.float64)
    de, ga, ve = (np.asarray(parent[f], np.float64) for f in ("de", "ga", "ve"))
    m = "LiveImpliedQuoteAdj"
    res = np.full(n, ordinal(m, "uPrcAdjResult", "OK"), np.int16)
    with np.errstate(all="ignore"):
        rng = np.abs(np.log(s1 / s0))
        other = np.isnan(de) | np.isnan(ga) | np.isnan(ve) | ~(s0 > 0)
        conds = [(~has_parent, "NullOption"), (np.isnan(s1), "StaleUPrc"), (s1 <= 0, "InvalidUPrc"),
                 (rng > ADJ_RANGE, "UPrcRangeErr"), (other, "OtherError")]
        decided = np.zeros(n, bool)
        for mask, name in conds:
            pick = mask & ~decided
            res[pick] = ordinal(m, "uPrcAdjResult", name)
            decided |= pick
        ok = ~decided
        du = np.where(ok, s1 - s0, 0.0)
        move = de * du + 0.5 * ga * du * du
        out["uprc"] = np.where(ok, s1, out["uprc"])
        out["de"] = np.where(ok, np.clip(de + ga * du, -1.0, 1.0), out["de"])
        out["sprc"] = np.where(ok, np.maximum(out["sprc"] + move, 0.0), out["sprc"])
        obid, oask = out["obid"], out["oask"]
        mark = out["smrk"] + move
        two = (obid > 0) & (oask >= obid)
        mark = np.where(two, np.clip(mark, obid, oask), mark)
        out["smrk"] = np.where(ok, mark, out["smrk"])
        for f in ("obiv", "oaiv"):
            iv = np.clip(out[f] - move / (100.0 * ve), VOL_MIN, VOL_MAX)
            out[f] = np.where(ok & np.isfinite(out[f]), iv, out[f])
        out["synSpot"] = np.where(ok, s1 * out["synSpot"] / s0, out["synSpot"])
    out["uPrcAdjResult"] = res
    out["timestamp"] = np.full(n, now_ns, np.int64)
    return out


class ImpliedQuoteAdjuster:
    """Keeps a store's LiveImpliedQuoteAdj table adjusted to the latest underlier mids.

    Registered as computed on read with LiveImpliedQuote and StockBookQuote as its inputs, so a
    write to either marks the table stale and wakes its streams; each read then recomputes only
    the rows whose parent changed or whose underlier mid moved, and rewrites only those whose
    values changed (a stream sends exactly those).  With no reader, nothing is computed.
    """

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        reg = store.registry
        self.parent = store.table(reg["LiveImpliedQuote"])
        self.stock = store.table(reg["StockBookQuote"])
        self._cursor = 0
        self._seq = 0
        self._stock_seq = -1
        self._deletes = 0
        self._last_s1 = np.zeros(0)  # per parent row: the S1 used at its last adjustment
        self._adj_row = np.zeros(0, np.int64)  # per parent row: its Adj row when last written
        self._tk_map = np.zeros(0, np.int64)  # parent ticker code -> stock ticker code (-1: none)
        self._tk_state: tuple[object, ...] = ()
        self.refreshed = 0  # rows recomputed
        self.written = 0  # rows rewritten (their values changed)

    def register(self) -> None:
        self.store.computed_on_read("LiveImpliedQuoteAdj", self.refresh,
                                    inputs=("LiveImpliedQuote", "StockBookQuote"))

    def _ticker_map(self) -> NDArray[np.int64]:
        """Parent ticker vocabulary code -> stock ticker vocabulary code (-1 where none),
        rebuilt when either vocabulary grows or is compacted (tickers are few)."""
        pv, sv = self.parent.vocabs["ticker.tk"], self.stock.vocabs["ticker.tk"]
        state = (pv, sv, len(pv.words), len(sv.words))
        if self._tk_state != state:
            self._tk_state = state
            codes = sv.codes
            self._tk_map = np.fromiter((codes.get(w, -1) for w in pv.words), np.int64, len(pv.words))
        return self._tk_map

    def _live_spots(self) -> NDArray[np.float64]:
        """S1 per parent ticker vocabulary code (NaN where the ticker has no stock quote)."""
        st = self.stock
        tk_map = self._ticker_map()
        mids = np.full(len(st.vocabs["ticker.tk"].words) + 1, np.nan)  # last slot: no quote
        rows = st.live_rows()
        if len(rows):
            b = st.cols["bidPrice1"][rows]
            a = st.cols["askPrice1"][rows]
            with np.errstate(invalid="ignore"):
                mid = np.where((b > 0) & (a > 0), 0.5 * (b + a),
                               np.where(b > 0, b, np.where(a > 0, a, 0.0)))
            mids[st.cols["ticker.tk"][rows]] = mid
        return mids[np.where(tk_map >= 0, tk_map, len(mids) - 1)]

    def _grow(self, n: int) -> None:
        if len(self._last_s1) >= n:
            return
        size = max(n, 2 * len(self._last_s1))
        s1 = np.full(size, np.nan)
        s1[: len(self._last_s1)] = self._last_s1
        adj_row = np.full(size, -1, np.int64)
        adj_row[: len(self._adj_row)] = self._adj_row
        self._last_s1, self._adj_row = s1, adj_row

    def refresh(self, adj: Table) -> None:
        p, stock = self.parent, self.stock
        if p.seq == self._seq and stock.seq == self._stock_seq and p.deletes == self._deletes:
            return  # no input changed since the last refresh
        if p.deletes != self._deletes:
            self._drop_orphans(adj)
        n = p.n
        self._grow(n)
        changed, self._cursor = p.changed_since(self._cursor, self._seq)
        self._seq = p.seq
        alive = p.alive[:n]
        codes = p.cols["ticker.tk"][:n]
        if stock.seq != self._stock_seq:  # an underlier moved: every row of it is dirty
            self._stock_seq = stock.seq
            s1_all = self._live_spots()[codes]
            last = self._last_s1[:n]
            mask = ~((s1_all == last) | (np.isnan(s1_all) & np.isnan(last)))
            mask[changed[changed < n]] = True
            rows = np.flatnonzero(mask & alive)
            s1 = s1_all[rows]
        else:
            rows = changed[changed < n]
            rows = rows[alive[rows]]
            s1 = self._live_spots()[codes[rows]]
        if len(rows) == 0:
            return
        out = self._columns(rows, s1)
        self._last_s1[rows] = s1
        self.refreshed += len(rows)
        # rewrite only the rows whose Adj values changed (the timestamp aside)
        known = self._adj_row[rows]
        write = known < 0
        if not write.all():
            k = np.flatnonzero(~write)
            write[k] = adj.differs(known[k], {c: v[k] for c, v in out.items() if c != "timestamp"})
        w = np.flatnonzero(write)
        if len(w) == 0:
            return
        self._adj_row[rows[w]] = adj.upsert_columns({c: v[w] for c, v in out.items()},
                                                     sent_ts=self.clock.time_ns())
        self.written += len(w)

    def _columns(self, rows: NDArray[np.int64], s1: NDArray[np.float64]) -> dict[str, NDArray[Any]]:
        """The Adj columns (``upsert_columns`` form) of parent ``rows`` at underlier prices ``s1``."""
        p = self.parent
        parent_cols = {f: p.cols[f][rows] for f in (*COPY, "de", "ga", "ve")}
        out = adjust(parent_cols, np.ones(len(rows), bool), s1, self.clock.time_ns())
        names = p.mt.field("calcErr").enum.names  # type: ignore[union-attr]
        out["calcErr"] = np.array(names, dtype=object)[np.clip(p.cols["calcErr"][rows], 0, len(names) - 1)]
        for f in ("okey", "ticker"):
            for mbr in ("at", "ts", "tk", "dt", "xx", "cp"):
                c = f"{f}.{mbr}"
                if c in p.cols:
                    out[c] = p.cols[c][rows]
        out["okey.tk"] = p.vocabs["okey.tk"].array()[out["okey.tk"]]
        out["ticker.tk"] = p.vocabs["ticker.tk"].array()[out["ticker.tk"]]
        return out

    def _drop_orphans(self, adj: Table) -> None:
        """Parent records were deleted: delete their Adj records (and forget their rows)."""
        self._deletes = self.parent.deletes
        gone = [pk for pk in adj.index if pk not in self.parent.index]
        for pk in gone:
            adj.delete(pk)
        if gone:
            self._adj_row[:] = -1  # rows may have moved; the next writes find them again
