"""Market inputs of option positions, gathered from the live tables (LiveImpliedQuote per
series, LiveSurfaceCurve(Live) per expiry for the SVI smile, OptionNbboQuote) through
``engines.marketview``: one index lookup per series and per expiry, then column slices."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...analytics import SMILE_WIDTH
from ...engines.marketview import MarketView
from ...schema import ExpiryKey, OptionKey
from ._reval import RevalInputs

__all__ = ["GREEKS", "OptMarket", "gather"]

#: OptionPositionRecordV5 greek -> LiveImpliedQuote field
GREEKS = {"de": "de", "ga": "ga", "th": "th", "ve": "ve", "rh": "ro", "ph": "ph", "vo": "vo",
          "va": "va"}
_SVI = tuple(f"skewC{i:02d}" for i in range(SMILE_WIDTH))  # the engine's smile (analytics._smile)
_LIQ = {"spot": "uPrc", "t": "years", "rate": "rate", "q": "sdiv", "ddiv": "ddiv",
        "svol": "sVol", "sprc": "sPrc", "smark": "sMark", "atm": "atmVol", "uoff": "uOff"}


class OptMarket:
    """Column arrays of the market of ``n`` option series (NaN where a value is missing)."""

    def __init__(self, n: int) -> None:
        nan = (lambda: np.full(n, np.nan))  # noqa: E731
        self.ok = np.zeros(n, bool)
        self.spot, self.strike, self.cpf, self.t, self.rate, self.q = (nan() for _ in range(6))
        self.ddiv, self.uoff, self.svol, self.sprc, self.smark = (nan() for _ in range(5))
        self.bid, self.ask, self.atm = nan(), nan(), nan()
        self.american = np.zeros(n, bool)
        self.params = np.full((n, SMILE_WIDTH), np.nan)
        self.greeks = {g: nan() for g in GREEKS}

    def inputs(self) -> RevalInputs:
        return RevalInputs(self.spot, self.strike, self.cpf, self.t, self.rate, self.q,
                           np.nan_to_num(self.ddiv), self.uoff, self.american, self.params,
                           self.svol)


def _rows(index: dict, keys: Sequence[tuple]) -> np.ndarray:  # type: ignore[type-arg]
    get = index.get
    return np.fromiter((get(k, -1) for k in keys), np.int64, len(keys))


def gather(view: MarketView, okeys: Sequence[OptionKey]) -> OptMarket:
    """``ok`` is False for series without a usable LiveImpliedQuote (no uPrc, vol or time)."""
    n = len(okeys)
    m = OptMarket(n)
    if n == 0:
        return m
    reg, store = view.reg, view.store
    m.strike[:] = [k.xx for k in okeys]
    m.cpf[:] = [1.0 if k.cp == "Call" else -1.0 for k in okeys]
    roots: dict[tuple[str, str, str], bool] = {}
    fut: dict[tuple[str, str, str], bool] = {}
    with view.snapshot():
        for k in okeys:
            r = (k.at, k.ts, k.tk)
            if r not in roots:
                fut[r] = view.is_future_model(k)
                roots[r] = view.exercise(k) == "American" and not fut[r]
    m.american[:] = [roots[(k.at, k.ts, k.tk)] for k in okeys]
    is_fut = np.array([fut[(k.at, k.ts, k.tk)] for k in okeys], bool)
    one = [(k,) for k in okeys]
    lt = store.table(reg["LiveImpliedQuote"])
    rows = _rows(lt.index, one)
    has = rows >= 0
    sel = rows[has]
    for attr, col in _LIQ.items():
        getattr(m, attr)[has] = lt.column(col)[sel]
    for g, col in GREEKS.items():
        m.greeks[g][has] = lt.column(col)[sel]
    m.uoff[~is_fut] = np.nan
    nt = store.table(reg["OptionNbboQuote"])
    nrows = _rows(nt.index, one)
    nh = nrows >= 0
    m.bid[nh] = nt.column("bidPrice")[nrows[nh]]
    m.ask[nh] = nt.column("askPrice")[nrows[nh]]
    ct = store.table(reg["LiveSurfaceCurve"])
    live = reg["LiveSurfaceCurve"].field("surfaceType").enum.index("Live")  # type: ignore[union-attr]
    exps: dict[ExpiryKey, int] = {}
    e_of = np.fromiter((exps.setdefault(k.expiry, len(exps)) for k in okeys), np.int64, n)
    crow = _rows(ct.index, [(e, live) for e in exps])
    ch = crow >= 0
    p = np.full((len(exps), SMILE_WIDTH), np.nan)
    for i, col in enumerate(_SVI):
        p[ch, i] = ct.column(col)[crow[ch]]
    good = np.all(np.isfinite(p), axis=1) & (p[:, 1] > 0)
    p[~good] = np.nan
    m.params[has] = p[e_of[has]]
    with np.errstate(invalid="ignore"):
        m.ok = has & (m.spot > 0) & (m.t >= 0) & np.isfinite(m.svol) & (m.svol > 0)
    return m
