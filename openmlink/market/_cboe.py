"""Cboe delayed-quote option chains as a market source: a parsed file (``ChainSnapshot``) as
MLink records, and ``ChainSource`` publishing one or more files once.

The file layouts and date forms accepted are described in ``_cboe_parse``. Each series becomes
an ``OptionNbboQuote`` keyed by its root (``SPXW-NMS-EQT-2023-09-14-1200-C``; see
``_securities`` for why the root), the underlier a ``StockBookQuote`` (an index with no quote
gets bid = ask = last), series that traded an ``OptionPrint``, and the roots and expiries their
definitions. Every timestamp is the valuation time: the last regular close at or before the
file's quote time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from ..bus import Bus, ColumnBatch, Event
from ..clock import Clock
from ._calendar import ExpiryCycle, last_close_at_or_before
from ._cboe_parse import ChainColumns, parse_osi, read_chain_columns
from ._columns import msg_type, option_key_columns, ordinal, ticker_key_columns
from ._definitions import root_definition, ticker_definition
from ._errors import SourceError
from ._securities import OptionRoot, Underlier

__all__ = ["ChainSnapshot", "ChainSource", "index_root_terms", "load_chain", "parse_osi"]

_EPOCH = date(1970, 1, 1)

#: Cash-settled, European index roots: settlement (AM/PM) and underlier symbol.
_INDEX_ROOTS = {
    "SPX": ("AM", "SPX"), "SPXW": ("PM", "SPX"), "XSP": ("PM", "XSP"),
    "NDX": ("AM", "NDX"), "NDXP": ("PM", "NDX"), "RUT": ("AM", "RUT"), "RUTW": ("PM", "RUT"),
    "VIX": ("AM", "VIX"), "VIXW": ("AM", "VIX"), "DJX": ("AM", "DJX"), "MRUT": ("PM", "MRUT"),
}


def index_root_terms(root: str) -> tuple[str, str, str] | None:
    """(settlement, underlier, exercise) of a known index root, else None."""
    t = _INDEX_ROOTS.get(root)
    return None if t is None else (t[0], t[1], "European")


@dataclass
class ChainSnapshot(ChainColumns):
    """One parsed chain file: the parsed columns (``ChainColumns``, root as an object array)
    plus where it came from, the underlier symbol and the valuation time (last close)."""

    path: Path
    underlier: str
    valuation_ns: int

    def __len__(self) -> int:
        return len(self.strike)

    def roots(self) -> list[str]:
        return sorted(set(np.asarray(self.root).tolist()))

    def _root_terms(self, root: str) -> OptionRoot:
        t = index_root_terms(root)
        if t is not None:
            return OptionRoot(root, self.underlier, ExpiryCycle(), 100.0, t[2], t[0],
                              "penny" if root == "XSP" else "standard", "Index", ("CBOE",))
        return OptionRoot(root, self.underlier, ExpiryCycle(), tick_class="penny")

    def _underlier_def(self) -> Underlier:
        low = self.name.lower()
        kind = "CashIndex" if "index" in low else ("ETF" if ("etf" in low or "trust" in low)
                                                   else "Equity")
        return Underlier(self.underlier, self.name, self.last, kind, "None")

    def messages(self) -> list[Event | ColumnBatch]:
        """Definitions, the underlier quote and print, option quotes and option prints."""
        t = self.valuation_ns
        n = len(self)
        out: list[Event | ColumnBatch] = []
        u = self._underlier_def()
        out.append(Event(msg_type("TickerDefinition"), "upsert",
                         ticker_definition(u, n, t), t))
        roots = {r: self._root_terms(r) for r in self.roots()}
        for r in roots.values():
            out.append(Event(msg_type("RootDefinition"), "upsert", root_definition(r, u, t), t))
        pairs = sorted({(str(r), int(d)) for r, d in zip(np.asarray(self.root).tolist(),
                                                         self.expiry.tolist(), strict=True)})
        if pairs:
            m = "OptExpiryDefinition"
            exp_ns = np.array([roots[r].expiration_ns(_EPOCH + timedelta(days=d))
                               for r, d in pairs], np.int64)
            cols = ticker_key_columns("ekey", [r for r, _ in pairs])
            cols["ekey.dt"] = np.array([d for _, d in pairs], np.int32)
            cols.update(ticker_key_columns("ticker", [self.underlier] * len(pairs)))
            cols.update({"expiration": exp_ns, "maturityDate": exp_ns,
                         "minTickSize": np.array([roots[r].ticks()[0] for r, _ in pairs]),
                         "timestamp": np.full(len(pairs), t, np.int64)})
            out.append(ColumnBatch(msg_type(m), cols, t))
        bid = self.bid if self.bid > 0 else self.last
        ask = self.ask if self.ask > 0 else self.last
        sq = "StockBookQuote"
        out.append(ColumnBatch(msg_type(sq), {
            **ticker_key_columns("ticker", [self.underlier]),
            "marketStatus": np.array([ordinal(sq, "marketStatus", "Closed")], np.int16),
            "bidPrice1": np.array([bid]), "askPrice1": np.array([ask]),
            "srcTimestamp": np.array([t], np.int64), "netTimestamp": np.array([t], np.int64),
        }, t))
        sp = "StockPrint"
        out.append(ColumnBatch(msg_type(sp), {
            **ticker_key_columns("ticker", [self.underlier]),
            "prtPrice": np.array([self.last]), "mrkPrice": np.array([self.last]),
            "clsPrice": np.array([self.last]), "prtVolume": np.array([self.volume], np.int64),
            "ebid": np.array([bid]), "eask": np.array([ask]),
            "prtTimestamp": np.array([t], np.int64), "timestamp": np.array([t], np.int64),
        }, t))
        if n:
            keys = option_key_columns("okey", self.root, self.expiry, self.strike, self.cp)
            q = "OptionNbboQuote"
            out.append(ColumnBatch(msg_type(q), {
                **keys,
                "updateType": np.full(n, ordinal(q, "updateType", "PrevPeriod"), np.int16),
                "bidPrice": self.bid_px, "askPrice": self.ask_px,
                "srcTimestamp": np.full(n, t, np.int64), "netTimestamp": np.full(n, t, np.int64),
            }, t))
            traded = np.flatnonzero(self.volume_ct > 0)
            if len(traded):
                k = len(traded)
                out.append(ColumnBatch(msg_type("OptionPrint"), {
                    **{c: v[traded] for c, v in keys.items()},
                    "prtPrice": self.last_px[traded], "prtVolume": self.volume_ct[traded],
                    "bidPrice": self.bid_px[traded], "askPrice": self.ask_px[traded],
                    "prtTimestamp": np.full(k, t, np.int64), "timestamp": np.full(k, t, np.int64),
                }, t))
        return out


def load_chain(path: str | Path) -> ChainSnapshot:
    """Parse one Cboe chain CSV file (``ChainFormatError`` naming file, line and column for
    anything not understood)."""
    p = Path(path)
    c = read_chain_columns(p)
    und = min(c.root, key=len)
    t = index_root_terms(und)
    if t is not None:
        und = t[1]
    root_arr = np.empty(len(c.root), dtype=object)
    root_arr[:] = c.root
    return ChainSnapshot(**{**vars(c), "root": root_arr}, path=p, underlier=und,
                         valuation_ns=last_close_at_or_before(c.quote_ns))


class ChainSource:
    """Publishes one or more chain snapshots once (a ``Source``)."""

    name = "cboe-chain"

    def __init__(self, paths: Sequence[str | Path]) -> None:
        self.paths = [Path(p) for p in paths]
        self.snapshots: list[ChainSnapshot] = []
        self._closed = False

    def load(self) -> list[ChainSnapshot]:
        if not self.snapshots:
            self.snapshots = [load_chain(p) for p in self.paths]
        return self.snapshots

    def prepare(self, clock: Clock) -> str:
        """Read and check every file (``ChainFormatError`` on the first that is not a chain)."""
        if not self.paths:
            raise SourceError("cboe-chain: no chain file given")
        snaps = self.load()
        n = sum(len(s) for s in snaps)
        unds = ", ".join(s.underlier for s in snaps)
        val = max(s.valuation_ns for s in snaps)
        when = datetime.fromtimestamp(val / 1e9, UTC).strftime("%Y-%m-%d %H:%M UTC")
        return (f"Cboe chains: {len(snaps)} file{'s' if len(snaps) > 1 else ''} ({unds}), "
                f"{n} series, valued at {when}")

    @property
    def valuation_ns(self) -> int:
        """The latest valuation time of the loaded snapshots."""
        return max(s.valuation_ns for s in self.load())

    async def run(self, bus: Bus, clock: Clock) -> None:
        for snap in self.load():
            for msg in snap.messages():
                if self._closed:
                    return
                bus.publish(msg)
                await asyncio.sleep(0)

    def close(self) -> None:
        self._closed = True
