"""The market of the orders' series, read from the live tables into the limit kernels' columns.

``MarketReader.series_market(okeys)`` gathers, for a list of OptionKeys (one per working order),
the option NBBO (OptionNbboQuote), the surface (LiveImpliedQuote: uPrc, sVol, sPrc, sMark, de,
ga, years, rate, sdiv) and the underlier market (StockBookQuote) by row lookups and column
gathers -- no per-record dictionaries on the hot path.  ``nbbo(okey)`` is the venue's book.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...clock import Clock
from ...engines.marketview import MarketView
from ...schema import OptionKey, Registry, TickerKey
from ...store import Store
from ..limits import PRICE_TYPE, SeriesMarket, tick_sizes
from ..venue import Nbbo
from ._stock import STOCK_TICK, fill_stock_market, stock_nbbo_fields

__all__ = ["MarketReader", "SeriesInfo"]



class SeriesInfo:
    """Static facts of one series (cached): strike, cp, exercise, underlier, ticks, point value."""

    __slots__ = ("american", "cp", "point_value", "strike", "tick_above3", "tick_below3",
                 "ticker")

    ticker: TickerKey

    def __init__(self, okey: OptionKey | TickerKey, view: MarketView) -> None:
        if isinstance(okey, TickerKey):  # a stock: its own underlier, one share, cent ticks
            self.strike, self.cp, self.american, self.ticker = math.nan, 0, False, okey
            self.point_value = 1.0
            self.tick_below3 = self.tick_above3 = STOCK_TICK
            return
        self.strike = float(okey.xx)
        self.cp = 1 if okey.cp == "Call" else -1
        self.american = view.exercise(okey) == "American"
        self.ticker = view.underlier_of(okey)
        self.point_value = view.point_value(okey)
        # (inferred) every class is treated as a penny-program class (no program list here)
        self.tick_below3, self.tick_above3 = tick_sizes(okey.tk, True)


class MarketReader:
    def __init__(self, store: Store, reg: Registry, clock: Clock,
                 master_fn: Callable[[], Any] = lambda: None) -> None:
        self.store = store
        self.clock = clock
        self.view = MarketView(store, reg, master_fn)
        self._nbbo = store.table(reg["OptionNbboQuote"])
        self._liq = store.table(reg["LiveImpliedQuote"])
        self._stk = store.table(reg["StockBookQuote"])
        self._info: dict[OptionKey, SeriesInfo] = {}

    def info(self, okey: OptionKey) -> SeriesInfo:
        i = self._info.get(okey)
        if i is None:
            if len(self._info) > 200_000:
                self._info.clear()
            i = self._info[okey] = SeriesInfo(okey, self.view)
        return i

    def known(self, okey: OptionKey | TickerKey) -> bool:
        """The series has a quote or a surface point (it is listed on this platform); a stock
        has a StockBookQuote."""
        if isinstance(okey, TickerKey):
            return self._stk.row_of((okey,)) is not None
        return (self._nbbo.row_of((okey,)) is not None or self._liq.row_of((okey,)) is not None)

    # ---------------------------------------------------------------- venue book
    def nbbo(self, okey: Any) -> Nbbo | None:
        if isinstance(okey, TickerKey):
            return self._stock_nbbo(okey)
        t = self._nbbo
        r = t.row_of((okey,))
        if r is None:
            return None
        c = t.cols
        return Nbbo(float(c["bidPrice"][r]), float(c["askPrice"][r]), int(c["bidSize"][r]),
                    int(c["askSize"][r]), int(c["bidMask"][r]), int(c["askMask"][r]),
                    int(t.sent_ts[r]) or int(t.row_seq[r]))

    def _stock_nbbo(self, tk: TickerKey) -> Nbbo | None:
        """A stock's level 1 as the venue's book (exchange masks 0: StockBookQuote's are stock
        exchanges, not the venue's option exchange codes)."""
        t = self._stk
        r = t.row_of((tk,))
        if r is None:
            return None
        bid, ask, bsz, asz = stock_nbbo_fields(t.cols, r)
        return Nbbo(bid, ask, bsz, asz, 0, 0, int(t.sent_ts[r]) or int(t.row_seq[r]))

    def quote_version(self, okey: OptionKey | TickerKey) -> int:
        t = self._stk if isinstance(okey, TickerKey) else self._nbbo
        r = t.row_of((okey,))
        return -1 if r is None else int(t.row_seq[r])

    # ---------------------------------------------------------------- limit inputs
    def series_market(self, okeys: Sequence[OptionKey]) -> tuple[SeriesMarket, dict[str, np.ndarray]]:
        """The kernels' market columns and extras (``ve``, ``quote_version``) per row."""
        n = len(okeys)
        m = SeriesMarket.blank(n)
        extra = {"ve": np.full(n, np.nan), "qv": np.full(n, -1, np.int64)}
        if n == 0:
            return m, extra
        infos = [self.info(k) for k in okeys]
        m.strike[:] = [i.strike for i in infos]
        m.cp[:] = [i.cp for i in infos]
        m.american[:] = [i.american for i in infos]
        m.tick_below3[:] = [i.tick_below3 for i in infos]
        m.tick_above3[:] = [i.tick_above3 for i in infos]
        # option NBBO
        rn = _rows(self._nbbo, [(k,) for k in okeys])
        ok = rn >= 0
        if ok.any():
            c, r = self._nbbo.cols, rn[ok]
            bid, ask = c["bidPrice"][r], c["askPrice"][r]
            m.bid[ok] = np.where(bid > 0, bid, np.nan)
            m.ask[ok] = np.where(ask > 0, ask, np.nan)
            m.bid_size[ok] = c["bidSize"][r]
            m.ask_size[ok] = c["askSize"][r]
            extra["qv"][ok] = self._nbbo.row_seq[r]
        m.avg_width[:] = m.ask - m.bid
        # surface
        rl = _rows(self._liq, [(k,) for k in okeys])
        ok = rl >= 0
        if ok.any():
            c, r = self._liq.cols, rl[ok]
            for dst, src in (("u_prc", "uPrc"), ("u_off", "uOff"), ("ddiv", "ddiv"),
                             ("s_vol", "sVol"), ("s_prc", "sPrc"), ("s_mark", "sMark"),
                             ("de", "de"), ("ga", "ga"), ("years", "years"), ("rate", "rate"),
                             ("sdiv", "sdiv")):
                getattr(m, dst)[ok] = c[src][r]
            m.price_type[ok] = c["priceType"][r]
            extra["ve"][ok] = c["ve"][r]
            bad = ok & ~(m.s_vol > 0)
            m.s_vol[bad] = np.nan
            m.s_prc[bad] = np.nan
            m.s_mark[bad] = np.nan
        m.price_type[m.price_type == 0] = PRICE_TYPE["Equity"]
        # underlier market
        rs = _rows(self._stk, [(i.ticker,) for i in infos])
        ok = rs >= 0
        if ok.any():
            c, r = self._stk.cols, rs[ok]
            ub, ua = c["bidPrice1"][r], c["askPrice1"][r]
            m.u_bid[ok] = np.where(ub > 0, ub, np.nan)
            m.u_ask[ok] = np.where(ua > 0, ua, np.nan)
        miss = ~(m.u_prc > 0)
        if miss.any():
            mid = 0.5 * (m.u_bid + m.u_ask)
            m.u_prc[miss] = mid[miss]
        stk = fill_stock_market(m, extra, self._stk, list(okeys))
        miss = ~(m.years > 0) & ~stk
        if miss.any():  # no surface point yet: the expiry's time from the security data
            now = self.clock.time_ns()
            for j in np.flatnonzero(miss).tolist():
                m.years[j] = self.view.years_between(now, self.view.expiry_ns(okeys[j]))
        return m, extra

    def atm_vols(self, okeys: Sequence[Any]) -> np.ndarray:
        """LiveImpliedQuote ``atmVol`` per series (NaN where none: no surface point, a stock)."""
        out = np.full(len(okeys), np.nan)
        rl = _rows(self._liq, [(k,) for k in okeys])
        ok = rl >= 0
        if ok.any():
            v = self._liq.cols["atmVol"][rl[ok]].astype(np.float64)
            out[ok] = np.where(v > 0, v, np.nan)
        return out


def _rows(t: Any, pks: list[tuple[Any, ...]]) -> np.ndarray:
    idx = t.index
    return np.fromiter((idx.get(pk, -1) for pk in pks), np.int64, len(pks))
