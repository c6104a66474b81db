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
    """Keeps a store's LiveImpliedQuoteAdj table adjusted to the latest underlier mids."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        reg = store.registry
        self.parent = store.table(reg["LiveImpliedQuote"])
        self.stock = store.table(reg["StockBookQuote"])
        self._cursor = 0
        self._seq = 0
        self._last_s1 = np.zeros(0)  # per parent row: the S1 used at its last adjustment
        self.refreshed = 0

    def register(self) -> None:
        self.store.computed_on_read("LiveImpliedQuoteAdj", self.refresh)

    def _live_spots(self) -> NDArray[np.float64]:
        """S1 per parent ticker vocabulary code (NaN where the ticker has no stock quote)."""
        st = self.stock
        words = self.parent.vocabs["ticker.tk"].words
        out = np.full(len(words), np.nan)
        sw = st.vocabs["ticker.tk"].words
        rows = st.live_rows()
        if len(rows) == 0:
            return out
        codes = st.cols["ticker.tk"][rows]
        b = st.cols["bidPrice1"][rows]
        a = st.cols["askPrice1"][rows]
        with np.errstate(invalid="ignore"):
            mid = np.where((b > 0) & (a > 0), 0.5 * (b + a), np.where(b > 0, b, np.where(a > 0, a, 0.0)))
        by_word = {sw[c]: float(x) for c, x in zip(codes.tolist(), mid.tolist(), strict=True)}
        for i, w in enumerate(words):
            v = by_word.get(w)
            if v is not None:
                out[i] = v
        return out

    def refresh(self, adj: Table) -> None:
        p = self.parent
        n = p.n
        if len(self._last_s1) < n:
            grown = np.full(max(n, 2 * len(self._last_s1)), np.nan)
            grown[: len(self._last_s1)] = self._last_s1
            self._last_s1 = grown
        changed, self._cursor = p.changed_since(self._cursor, self._seq)
        self._seq = p.seq
        alive = p.alive[:n]
        s1_all = self._live_spots()[p.cols["ticker.tk"][:n]]
        last = self._last_s1[:n]
        moved = ~((s1_all == last) | (np.isnan(s1_all) & np.isnan(last)))
        mask = moved & alive
        mask[changed[changed < n]] = True
        mask &= alive
        rows = np.flatnonzero(mask)
        if len(rows) == 0:
            return
        parent_cols = {f: p.cols[f][rows] for f in (*COPY, "de", "ga", "ve")}
        s1 = s1_all[rows]
        out = adjust(parent_cols, alive[rows], s1, self.clock.time_ns())
        names = p.mt.field("calcErr").enum.names  # type: ignore[union-attr]
        err = np.array(names, dtype=object)[np.clip(p.cols["calcErr"][rows], 0, len(names) - 1)]
        keys: dict[str, Any] = {}
        for f in ("okey", "ticker"):
            for mbr in ("at", "ts", "tk", "dt", "xx", "cp"):
                c = f"{f}.{mbr}"
                if c in p.cols:
                    keys[c] = p.cols[c][rows]
        okw = np.array(p.vocabs["okey.tk"].words, dtype=object)
        tkw = np.array(p.vocabs["ticker.tk"].words, dtype=object)
        keys["okey.tk"] = okw[keys["okey.tk"]]
        keys["ticker.tk"] = tkw[keys["ticker.tk"]]
        adj.upsert_columns({**keys, **out, "calcErr": err})
        self._last_s1[rows] = s1
        self.refreshed += len(rows)
