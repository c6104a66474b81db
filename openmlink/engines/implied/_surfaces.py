"""LiveAtmVol and LiveSurfaceCurve records (one per expiry, ``surfaceType = Live``) from the
engine's fits.

Filled: ekey, ticker, uPrc/uPrcDriver (underlier mid), years, rate, sdiv (the carry implied
by the forward, r - ln(F / (S - ddiv)) / t, for Equity and Future alike), ddiv (cash) and ddivPv,
atmVol (SVI vol at xAxis 0), axisFUPrc (parity forward), axisVolRT = atmVol * sqrt(years),
uPrcRatio = F / uPrc,
priceType, cpAdjType (SDiv for Equity, UPrcRatio for Future), numAtmStrikes (parity pairs),
exType, modelType LogNormalExact, moneynessType LogStd (xAxis = ln(K/F) / axisVolRT), slope
= d vol / d xAxis at xAxis 0, cCnt/pCnt (quotes in the fit), fitAvgAbsErr (weighted RMS error of
the fit in vol points), minXAxis/maxXAxis (range of fitted strikes), surfaceResult,
skewC00..skewC04 = the raw-SVI parameters a, b, rho, m, sigma (total variance vs ln(K/F)),
skewC05..skewC28 = the spline correction (k_lo, k_hi, knot count J, J coefficients;
``analytics._smile``); surfaceResult CobsConvexFitErr = butterfly arbitrage left in the fitted
range (Durrleman g < 0).
Left at their defaults (no source in this engine): EMAs, earnings fields, historical vols,
vwidth/pwidth, the ivAdj/cpAdj knot tables, bid/ask miss counts, saddle points, tradeable status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ...analytics import smile_wk
from ...bus import ColumnBatch
from ...market import key_ordinal
from ...schema import registry
from ._enums import ordinal

if TYPE_CHECKING:
    from ._book import Book

__all__ = ["surface_batches"]


def surface_batches(b: Book, exps: NDArray[np.int64], spot: NDArray[np.float64],
                    npairs: NDArray[np.int64], q_master: NDArray[np.float64],
                    now: int) -> list[ColumnBatch]:
    n = len(exps)
    p = b.exp_params[exps]
    t = b.exp_years[exps]
    fwd = b.exp_fwd[exps]
    r = b.exp_rate[exps]
    amer = np.array([b.roots[int(c)].american for c in b.exp_root[exps].tolist()], bool)
    with np.errstate(all="ignore"):
        w0, dwdk0 = smile_wk(np.zeros(n), p, 1)
        atm = np.where((t > 0) & (w0 > 0), np.sqrt(w0 / t), np.nan)
        axis = atm * np.sqrt(t)
        a_, b_, rho, m_, sg = (p[:, i] for i in range(5))
        slope = dwdk0 / (2.0 * atm * t) * axis  # d vol / d xAxis at 0
        rms_vol = b.exp_rmse[exps] / (2.0 * atm * t) * 100.0
        syn = np.where(amer, spot, fwd * np.exp(-(r - q_master) * t))
    roots = np.array([b.roots[int(c)].root for c in b.exp_root[exps].tolist()], dtype=object)
    unds = np.array([b.und_names[int(u)] for u in b.exp_und[exps].tolist()], dtype=object)
    at, ts = key_ordinal("at", "EQT"), key_ordinal("ts", "NMS")
    key = {"ekey.at": np.full(n, at, np.int16), "ekey.ts": np.full(n, ts, np.int16),
           "ekey.tk": roots, "ekey.dt": b.exp_dt[exps].copy(),
           "ticker.at": np.full(n, at, np.int16), "ticker.ts": np.full(n, ts, np.int16),
           "ticker.tk": unds}
    m = "LiveAtmVol"
    fut = ~amer
    ok = np.isfinite(atm)
    sdiv = b.exp_q[exps].copy()
    ptype = np.where(fut, ordinal(m, "priceType", "Future"), ordinal(m, "priceType", "Equity"))
    atm_cols: dict[str, Any] = {
        **key, "uPrc": spot, "years": t, "rate": r, "ddiv": b.exp_ddiv_cash[exps].copy(),
        "ddivPv": b.exp_ddiv[exps].copy(), "atmVol": atm, "uPrcRatio": fwd / spot, "sdiv": sdiv,
        "cpAdjType": np.where(fut, ordinal(m, "cpAdjType", "UPrcRatio"),
                              ordinal(m, "cpAdjType", "SDiv")).astype(np.int16),
        "priceType": ptype.astype(np.int16), "uPrcDriver": spot, "axisFUPrc": fwd,
        "synSpot": syn, "numAtmStrikes": np.minimum(npairs, 127),
        "surfaceResult": np.where(ok, ordinal(m, "surfaceResult", "OK"),
                                  ordinal(m, "surfaceResult", "NotEnoughStrikes")).astype(np.int16),
        "netTimestamp": np.full(n, now, np.int64), "timestamp": np.full(n, now, np.int64),
    }
    c = "LiveSurfaceCurve"
    k_lo, k_hi = _k_range(b, exps)
    curve_cols: dict[str, Any] = {
        **key, "surfaceType": np.full(n, ordinal(c, "surfaceType", "Live"), np.int16),
        "uPrcDriver": spot, "uPrc": spot, "years": t, "rate": r, "sdiv": sdiv,
        "ddiv": b.exp_ddiv_cash[exps].copy(), "ddivPv": b.exp_ddiv[exps].copy(),
        "symbolRatio": np.ones(n),
        "exType": np.where(amer, ordinal(c, "exType", "American"),
                           ordinal(c, "exType", "European")).astype(np.int16),
        "modelType": np.full(n, ordinal(c, "modelType", "LogNormalExact"), np.int16),
        "priceType": ptype.astype(np.int16), "axisVolRT": axis, "axisFUPrc": fwd,
        "synSpot": syn, "moneynessType": np.full(n, ordinal(c, "moneynessType", "LogStd"), np.int16),
        "cpAdjType": atm_cols["cpAdjType"], "atmVol": atm, "uPrcRatio": fwd / spot,
        "slope": slope, "minXAxis": k_lo / axis, "maxXAxis": k_hi / axis,
        "cCnt": np.minimum(b.exp_ncall[exps], 127), "pCnt": np.minimum(b.exp_nput[exps], 127),
        "fitAvgAbsErr": rms_vol,
        # a smile with butterfly arbitrage left in its fitted range (analytics._smile) is
        # published flagged, never as OK
        "surfaceResult": np.where(~ok, ordinal(c, "surfaceResult", "NoGoodStrikes"),
                                  np.where(b.exp_arb[exps], ordinal(c, "surfaceResult", "CobsConvexFitErr"),
                                           ordinal(c, "surfaceResult", "OK"))).astype(np.int16),
        "skewC00": a_, "skewC01": b_, "skewC02": rho, "skewC03": m_, "skewC04": sg,
        **{f"skewC{i:02d}": np.nan_to_num(p[:, i]) for i in range(5, p.shape[1])},
        "sTimestamp": np.full(n, now, np.int64), "timestamp": np.full(n, now, np.int64),
    }
    reg = registry()
    return [ColumnBatch(reg[m], atm_cols, now), ColumnBatch(reg[c], curve_cols, now)]


def _k_range(b: Book, exps: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """ln(K/F) of the lowest and highest listed strike of each expiry (NaN without strikes).

    Rows of an expiry are sorted by strike in ``expiry_order``, so these are its first and
    last rows."""
    o, off = b.expiry_order()
    lo_i, hi_i = off[exps], off[exps + 1]
    has = hi_i > lo_i
    k_lo = np.where(has, b.strike[o[np.minimum(lo_i, len(o) - 1)]] if len(o) else np.nan, np.nan)
    k_hi = np.where(has, b.strike[o[np.maximum(hi_i - 1, 0)]] if len(o) else np.nan, np.nan)
    f = b.exp_fwd[exps]
    with np.errstate(all="ignore"):
        return np.log(k_lo / f), np.log(k_hi / f)
