"""Loader for Cboe delayed-quote option chain CSV files (the "download CSV" of the Cboe
delayed quotes page).

Layout: a two-line preamble — ``NAME,Last: 4505.1001,Change: 37.66`` and
``"Date: September 14, 2023 at 4:31 PM EDT",Bid: 4483.25,Ask: 4526.27,Size: 1*1,Volume: 0`` —
then a header and one row per (expiry, strike) with the call and the put side by side::

    Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest,Strike,
    Puts,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest

Option symbols are OSI style without padding: ``SPXW230914C01200000`` = root SPXW, expiry
2023-09-14, call, strike 1200.000. Each series becomes an ``OptionNbboQuote`` keyed by its
root (``SPXW-NMS-EQT-2023-09-14-1200-C``; see ``_securities`` for why the root), the
underlier a ``StockBookQuote`` (an index with no quote gets bid = ask = last), series that
traded an ``OptionPrint``, and the roots and expiries their definitions. Every timestamp is
the valuation time: the last regular close at or before the file's quote time.
"""

from __future__ import annotations

import asyncio
import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ..bus import Bus, ColumnBatch, Event
from ..clock import Clock
from ._calendar import NEW_YORK, ExpiryCycle, last_close_at_or_before
from ._columns import msg_type, option_key_columns, ordinal, ticker_key_columns
from ._definitions import root_definition, ticker_definition
from ._securities import OptionRoot, Underlier

__all__ = ["ChainSnapshot", "ChainSource", "index_root_terms", "load_chain", "parse_osi"]

_OSI = re.compile(r"^([A-Z0-9.]{1,6}?)(\d{6})([CP])(\d{8})$")
_DATE = re.compile(r"Date:\s*(.+?)\s+(E[DS]T|C[DS]T|UTC)?\s*$")
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


def parse_osi(symbol: str) -> tuple[str, date, str, float]:
    """``SPXW230914C01200000`` -> (``SPXW``, 2023-09-14, ``Call``, 1200.0)."""
    m = _OSI.match(symbol.strip())
    if m is None:
        raise ValueError(f"{symbol!r} is not an OSI option symbol")
    root, ymd, cp, strike = m.groups()
    d = date(2000 + int(ymd[:2]), int(ymd[2:4]), int(ymd[4:]))
    return root, d, "Call" if cp == "C" else "Put", int(strike) / 1000.0


def _num(text: str) -> float:
    t = text.strip().replace(",", "")
    return float(t) if t not in ("", "-", "N/A") else 0.0


def _field(cells: Sequence[str], label: str) -> str:
    for c in cells:
        if c.strip().lower().startswith(label.lower() + ":"):
            return c.split(":", 1)[1].strip()
    return ""


@dataclass
class ChainSnapshot:
    """One parsed chain file: the underlier line and every series, as columns."""

    path: Path
    name: str
    underlier: str
    last: float
    bid: float
    ask: float
    volume: int
    quote_ns: int
    valuation_ns: int
    root: np.ndarray  # object array of str
    expiry: np.ndarray  # int32 days since 1970-01-01
    strike: np.ndarray
    cp: np.ndarray  # int8: 0 Call, 1 Put
    bid_px: np.ndarray
    ask_px: np.ndarray
    last_px: np.ndarray
    volume_ct: np.ndarray
    open_interest: np.ndarray

    def __len__(self) -> int:
        return len(self.strike)

    def roots(self) -> list[str]:
        return sorted(set(self.root.tolist()))

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
        pairs = sorted({(str(r), int(d)) for r, d in zip(self.root.tolist(),
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


def _quote_time(text: str) -> int:
    m = _DATE.search(text)
    if m is None:
        raise ValueError(f"no quote date in {text!r}")
    dt = datetime.strptime(m.group(1).strip(), "%B %d, %Y at %I:%M %p")
    return int(dt.replace(tzinfo=NEW_YORK).timestamp()) * 1_000_000_000


def load_chain(path: str | Path) -> ChainSnapshot:
    """Parse one Cboe chain CSV file."""
    p = Path(path)
    with open(p, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if len(rows) < 3:
        raise ValueError(f"{p}: not a Cboe chain file (too short)")
    line1, line2, header = rows[0], rows[1], rows[2]
    if not header or header[0].strip() != "Expiration Date":
        raise ValueError(f"{p}: third line is not the chain header")
    quote_ns = _quote_time(line2[0])
    strike_i = header.index("Strike")
    call = {"sym": 1, "last": 2, "bid": 4, "ask": 5, "vol": 6, "oi": 10}
    put = {k: v + strike_i for k, v in call.items()}
    recs: list[tuple[str, int, float, int, float, float, float, int, int]] = []
    for r in rows[3:]:
        if len(r) <= put["oi"]:
            continue
        for side, cpv in ((call, 0), (put, 1)):
            sym = r[side["sym"]].strip()
            if not sym:
                continue
            root, d, _cp, k = parse_osi(sym)
            recs.append((root, (d - _EPOCH).days, k, cpv, _num(r[side["bid"]]),
                         _num(r[side["ask"]]), _num(r[side["last"]]), int(_num(r[side["vol"]])),
                         int(_num(r[side["oi"]]))))
    roots = sorted({x[0] for x in recs}, key=len)
    und = roots[0] if roots else p.stem.split("_")[0].upper()
    t = index_root_terms(und)
    if t is not None:
        und = t[1]
    cols: list[tuple[Any, ...]] = list(zip(*recs, strict=True)) if recs else [()] * 9
    root_arr = np.empty(len(recs), dtype=object)
    root_arr[:] = list(cols[0])
    return ChainSnapshot(
        path=p, name=line1[0].strip(), underlier=und,
        last=_num(_field(line1, "Last")), bid=_num(_field(line2, "Bid")),
        ask=_num(_field(line2, "Ask")), volume=int(_num(_field(line2, "Volume"))),
        quote_ns=quote_ns, valuation_ns=last_close_at_or_before(quote_ns),
        root=root_arr, expiry=np.array(cols[1], np.int32), strike=np.array(cols[2], np.float64),
        cp=np.array(cols[3], np.int8), bid_px=np.array(cols[4], np.float64),
        ask_px=np.array(cols[5], np.float64), last_px=np.array(cols[6], np.float64),
        volume_ct=np.array(cols[7], np.int64), open_interest=np.array(cols[8], np.int64),
    )


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
