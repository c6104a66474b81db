"""Read-only view of the platform's live values for the SPAN and theo engines.

Every value comes from a store table when the platform has it, else from a documented
default, in this order:

==========  ==================================================================  =========
value       sources (first that exists)                                          default
==========  ==================================================================  =========
uPrc        LiveImpliedQuote.uPrc; StockBookQuote mid (one side if one-sided)    none
vol         LiveImpliedQuote.sVol; implied vol of the OptionNbboQuote mid        none
years       OptExpiryDefinition.expiration; else the expiry date 16:00 New York  --
rate        LiveImpliedQuote.rate; LiveSurfaceCurve(Live).rate                   0.045
sdiv        LiveImpliedQuote.sdiv; LiveSurfaceCurve(Live).sdiv                   0
dividends   the security master's projected cash dividends                       none
exType      RootDefinition.exerciseType; security master                         American
pointValue  RootDefinition.pointValue; security master multiplier                100
symRatio    RootDefinition.symbolRatio                                           1
==========  ==================================================================  =========
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, time
from typing import Any, ClassVar

import numpy as np

from ..analytics import DEFAULT_RATE, implied_vol
from ..schema import ExpiryKey, OptionKey, Registry, TickerKey
from ..store import Store
from ..timeutil import DAYS_PER_YEAR, NS_PER_YEAR, local_ns

__all__ = ["DEFAULT_RATE", "MarketView"]



class MarketView:
    """Live values by key, read from ``store`` (``master_fn`` gives the security master or
    None)."""

    #: the tables it reads (the column data an engine process using it must receive)
    READS: ClassVar[frozenset[str]] = frozenset({
        "StockBookQuote", "OptionNbboQuote", "LiveImpliedQuote", "LiveSurfaceCurve",
        "OptExpiryDefinition", "RootDefinition", "TickerDefinition"})

    def __init__(self, store: Store, reg: Registry, master_fn: Callable[[], Any] = lambda: None
                 ) -> None:
        self.store = store
        self.reg = reg
        self.master_fn = master_fn
        self._memo: dict[tuple[str, tuple[Any, ...]], dict[str, Any] | None] | None = None

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Within the block, each (table, pkey) is read once (a batch sees one market)."""
        self._memo = {}
        try:
            yield
        finally:
            self._memo = None

    def _get(self, name: str, pk: tuple[Any, ...]) -> dict[str, Any] | None:
        memo = self._memo
        if memo is not None and (name, pk) in memo:
            return memo[(name, pk)]
        mt = self.reg.get(name)
        rec = None if mt is None else self.store.table(mt).get(pk)
        if memo is not None:
            memo[(name, pk)] = rec
        return rec

    # ---------------------------------------------------------------- underlier
    def stock_quote(self, ticker: TickerKey) -> tuple[float, float, float]:
        """(mid, bid, ask) of the underlier from StockBookQuote (NaN when absent)."""
        q = self._get("StockBookQuote", (ticker,))
        if q is None:
            return math.nan, math.nan, math.nan
        b, a = float(q["bidPrice1"]), float(q["askPrice1"])
        if b > 0 and a > 0:
            return 0.5 * (b + a), b, a
        x = a if a > 0 else b
        return (x if x > 0 else math.nan), b, a

    def live_quote(self, okey: OptionKey) -> dict[str, Any] | None:
        return self._get("LiveImpliedQuote", (okey,))

    def uprc(self, okey: OptionKey | None, ticker: TickerKey) -> float:
        if okey is not None:
            liq = self.live_quote(okey)
            if liq and liq["uPrc"] > 0:
                return float(liq["uPrc"])
        return self.stock_quote(ticker)[0]

    def underlier_of(self, key: OptionKey | ExpiryKey | TickerKey) -> TickerKey:
        root = TickerKey(key.at, key.ts, key.tk)
        rd = self._get("RootDefinition", (root,))
        if rd and rd.get("ticker") is not None:
            return TickerKey(*rd["ticker"][:3])
        m = self.master_fn()
        if m is not None and m.has_root(key.tk):
            return TickerKey(key.at, key.ts, m.root(key.tk).underlier)
        return root

    def root_def(self, key: OptionKey | ExpiryKey | TickerKey) -> dict[str, Any] | None:
        return self._get("RootDefinition", (TickerKey(key.at, key.ts, key.tk),))

    # ---------------------------------------------------------------- time
    def expiry_ns(self, key: OptionKey | ExpiryKey) -> int:
        ek = ExpiryKey(key.at, key.ts, key.tk, key.dt)
        d = self._get("OptExpiryDefinition", (ek,))
        if d and d.get("expiration", 0) > 0:
            return int(d["expiration"])
        return local_ns(date.fromisoformat(key.dt), time(16, 0))

    @staticmethod
    def years_between(now_ns: int, then_ns: int) -> float:
        return max(then_ns - now_ns, 0) / NS_PER_YEAR

    # ---------------------------------------------------------------- carry
    def rate_sdiv(self, okey: OptionKey | None, ekey: ExpiryKey | None) -> tuple[float, float]:
        if okey is not None:
            liq = self.live_quote(okey)
            if liq and math.isfinite(liq["rate"]) and liq["rate"] != 0:
                return float(liq["rate"]), float(liq["sdiv"])
        if ekey is not None:
            mt = self.reg.get("LiveSurfaceCurve")
            if mt is not None:
                live = mt.field("surfaceType").enum.index("Live")  # type: ignore[union-attr]
                c = self.store.table(mt).get((ekey, live))
                if c and c["rate"] != 0:
                    return float(c["rate"]), float(c["sdiv"])
        return DEFAULT_RATE, 0.0

    def dividends(self, ticker: TickerKey, today: date, expiry: date
                  ) -> tuple[tuple[float, ...], tuple[float, ...]]:
        m = self.master_fn()
        if m is None:
            return (), ()
        try:
            divs = m.dividends(ticker.tk, today, expiry)
        except KeyError:
            return (), ()
        return (tuple((d.ex_date - today).days / DAYS_PER_YEAR for d in divs),
                tuple(float(d.amount) for d in divs))

    # ---------------------------------------------------------------- contract
    def exercise(self, key: OptionKey | ExpiryKey) -> str:
        rd = self.root_def(key)
        if rd is not None:
            f = self.reg["RootDefinition"].field("exerciseType")
            name = f.enum.names[rd["exerciseType"]]  # type: ignore[union-attr]
            if name in ("American", "European"):
                return name
        m = self.master_fn()
        if m is not None and m.has_root(key.tk):
            return str(m.exercise_style(key.tk))
        return "European" if key.at == "IDX" else "American"

    def point_value(self, key: OptionKey | ExpiryKey) -> float:
        rd = self.root_def(key)
        if rd is not None and rd["pointValue"] > 0:
            return float(rd["pointValue"])
        m = self.master_fn()
        if m is not None and m.has_root(key.tk):
            return float(m.multiplier(key.tk))
        return 100.0

    def sym_ratio(self, key: OptionKey | ExpiryKey) -> float:
        rd = self.root_def(key)
        if rd is not None and rd["symbolRatio"] > 0:
            return float(rd["symbolRatio"])
        return 1.0

    def is_future_model(self, key: OptionKey | ExpiryKey | TickerKey) -> bool:
        if key.at == "FUT":
            return True
        rd = self.root_def(key)
        if rd is not None:
            f = self.reg["RootDefinition"].field("pricingModel")
            return f.enum.names[rd["pricingModel"]].startswith("Future")  # type: ignore[union-attr]
        return False

    def product_class(self, key: OptionKey | ExpiryKey | TickerKey) -> str:
        """``future``, ``index`` or ``equity`` (selects the Exch span default)."""
        if self.is_future_model(key):
            return "future"
        u = self.underlier_of(key)
        td = self._get("TickerDefinition", (u,))
        if td is not None:
            f = self.reg["TickerDefinition"].field("symbolType")
            if f.enum.names[td["symbolType"]] == "CashIndex":  # type: ignore[union-attr]
                return "index"
            return "equity"
        return "index" if key.at == "IDX" else "equity"

    # ---------------------------------------------------------------- vol
    def surface_vol(self, okey: OptionKey, S: float, t: float, r: float, q: float,
                    american: bool) -> float:
        """SR surface vol at the option's strike, else the implied vol of its NBBO mid."""
        liq = self.live_quote(okey)
        if liq and liq["sVol"] > 0:
            return float(liq["sVol"])
        nb = self._get("OptionNbboQuote", (okey,))
        if nb is None or not (nb["bidPrice"] > 0 and nb["askPrice"] > 0) or not S > 0:
            return math.nan
        mid = 0.5 * (nb["bidPrice"] + nb["askPrice"])
        cp = 1.0 if okey.cp == "Call" else -1.0
        v, _err = implied_vol(mid, S, okey.xx, max(t, 1e-6), r, q, cp,
                              "american" if american else "european")
        return float(np.asarray(v))
