"""SPAN risk-array kernel: the 16 scenario values of many options in one pass (pure arrays).

``span_values`` prices the base point and all 16 scenarios of every row with one call of the
public pricing kernel (``openmlink.analytics.price``; ``greeks`` once more when a greek calc
type or delta hedging needs it), then forms the value each ``spanCalcType`` asks for.  Values
are per unit of underlier (per share); the engine multiplies by ``pointValue``.

``spanCalcType`` (per scenario s, at the scenario's underlier price and vol):

=======  =======================================================================
PnL      weight_s * (V_s - V_0); with delta hedging, minus de_0 * (S_s - S_0)
Delta    de_s (per 1 of underlier); with delta hedging, de_s - de_0
Vega     ve_s (value change per vol point, 0.01)
WVega    ve_s * sqrt((30/365) / T)   -- vega weighted to a 30-day expiry
TVega    ve_s / sqrt(T)              -- per point of total vol (vol * sqrt(T))
WtVega   ve_s * (30/365) / T         -- vega weighted linearly in time to 30 days
Gamma    ga_s (per 1 of underlier)
Theta    th_s (value change as one calendar day passes)
=======  =======================================================================

Models (``CalcModelType``): LogNormalExact = the public kernel (Black-Scholes-Merton or
Black-76; American by ALO collocation, FD with cash dividends); LogNormalApprox = European
closed form, floored at intrinsic value for American exercise; NormalExact/NormalApprox =
Bachelier on the forward with normal vol = vol * F (the lognormal vol converted at the
money), early exercise as an intrinsic floor; greeks of the Normal model by central
differences.  T (``t_years``) is Act/365 years; r, q continuously compounded; vol annualised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import Exercise, Model
from .. import greeks as _greeks
from .. import price as _price
from ._scenarios import DEFAULT_CONFIG, N_SCENARIOS, SpanConfig

__all__ = ["CALC_TYPES", "MODEL_TYPES", "SpanModel", "bachelier_price", "span_values"]

#: SpanCalcType members in ordinal order
CALC_TYPES: tuple[str, ...] = ("PnL", "Delta", "Vega", "WVega", "TVega", "WtVega", "Gamma", "Theta")
#: CalcModelType members in ordinal order
MODEL_TYPES: tuple[str, ...] = ("None", "LogNormalExact", "NormalExact", "LogNormalApprox",
                                "NormalApprox")
_REF_YEARS = 30.0 / 365.0
_DAY = 1.0 / 365.0


@dataclass(frozen=True, slots=True)
class SpanModel:
    """How one group of rows is priced: exercise, underlier model, Normal/Approx flags and
    cash dividends ``(ex_times_years, amounts)`` shared by the group."""

    american: bool = False
    black76: bool = False
    normal: bool = False
    approx: bool = False
    dividends: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    @classmethod
    def from_model_type(cls, model_type: str, american: bool, black76: bool,
                        dividends: tuple[tuple[float, ...], tuple[float, ...]] | None = None
                        ) -> SpanModel:
        return cls(american, black76, model_type.startswith("Normal"),
                   model_type.endswith("Approx") or model_type.startswith("Normal"),
                   dividends if dividends and dividends[0] and not black76 else None)


def _escrow(S: NDArray[np.float64], t: NDArray[np.float64], r: NDArray[np.float64],
            q: NDArray[np.float64], divs: tuple[tuple[float, ...], tuple[float, ...]] | None
            ) -> NDArray[np.float64]:
    if not divs:
        return S
    ex_t = np.asarray(divs[0], dtype=np.float64)
    amt = np.asarray(divs[1], dtype=np.float64)
    live = (ex_t[None, :] > 0.0) & (ex_t[None, :] <= t[:, None])
    pv = np.where(live, amt[None, :] * np.exp(-(r - q)[:, None] * ex_t[None, :]), 0.0).sum(axis=1)
    return S - pv


def bachelier_price(S: ArrayLike, K: ArrayLike, t_years: ArrayLike, r: ArrayLike, q: ArrayLike,
                    vol: ArrayLike, cp: ArrayLike, black76: bool = False) -> NDArray[np.float64]:
    """European Bachelier (normal) price on the forward F = S e^{(r-q)T} (F = S for black76),
    normal vol = vol * F; cp +1 call / -1 put.  Tested: test_span_kernel.py::test_bachelier."""
    s, k, t, rr, qq, v, c = np.broadcast_arrays(*[np.asarray(a, dtype=np.float64)
                                                  for a in (S, K, t_years, r, q, vol, cp)])
    carry = np.zeros_like(s) if black76 else (rr - qq)
    F = s * np.exp(carry * t)
    sd = v * F * np.sqrt(np.maximum(t, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(sd > 0, c * (F - k) / np.where(sd > 0, sd, 1.0), 0.0)
    from scipy.special import ndtr  # local: keeps module import light
    val = np.where(sd > 0, c * (F - k) * ndtr(d) + sd * np.exp(-0.5 * d * d) / math.sqrt(2 * math.pi),
                   np.maximum(c * (F - k), 0.0))
    return np.exp(-rr * t) * val


def _price_group(S: NDArray[np.float64], K: NDArray[np.float64], t: NDArray[np.float64],
                 r: NDArray[np.float64], q: NDArray[np.float64], vol: NDArray[np.float64],
                 cp: NDArray[np.float64], m: SpanModel) -> NDArray[np.float64]:
    if not m.approx and not m.normal:
        return _price(S, K, t, r, q, vol, cp, "american" if m.american else "european",
                      "black76" if m.black76 else "black_scholes", _divs(m))
    if m.normal:
        out = bachelier_price(_escrow(S, t, r, q, m.dividends), K, t, r, q, vol, cp, m.black76)
    else:
        out = _price(S, K, t, r, q, vol, cp, "european",
                     "black76" if m.black76 else "black_scholes", _divs(m))
    if m.american:
        out = np.maximum(out, np.maximum(cp * (S - K), 0.0))
    return out


def _divs(m: SpanModel) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    if m.dividends is None:
        return None
    return np.asarray(m.dividends[0], np.float64), np.asarray(m.dividends[1], np.float64)


def _greeks_group(S: NDArray[np.float64], K: NDArray[np.float64], t: NDArray[np.float64],
                  r: NDArray[np.float64], q: NDArray[np.float64], vol: NDArray[np.float64],
                  cp: NDArray[np.float64], m: SpanModel) -> dict[str, NDArray[np.float64]]:
    """de, ga (per 1 of underlier), ve (per vol point), th (per calendar day)."""
    if not m.normal:
        ex: Exercise = "american" if (m.american and not m.approx) else "european"
        model: Model = "black76" if m.black76 else "black_scholes"
        g = _greeks(S, K, t, r, q, vol, cp, ex, model, _divs(m))
        return {k: g[k] for k in ("de", "ga", "ve", "th")}
    h = 1e-4 * S
    stack = np.concatenate([S, S + h, S - h, S, S])
    vols = np.concatenate([vol, vol, vol, vol + 0.01, vol])
    ts = np.concatenate([t, t, t, t, np.maximum(t - _DAY, 0.0)])
    rep = (lambda a: np.concatenate([a] * 5))  # noqa: E731
    p = _price_group(stack, rep(K), ts, rep(r), rep(q), vols, rep(cp), m).reshape(5, -1)
    return {"de": (p[1] - p[2]) / (2 * h), "ga": (p[1] - 2 * p[0] + p[2]) / (h * h),
            "ve": p[3] - p[0], "th": p[4] - p[0]}


def span_values(S: ArrayLike, K: ArrayLike, t_years: ArrayLike, r: ArrayLike, q: ArrayLike,
                vol: ArrayLike, cp: ArrayLike, S_s: ArrayLike, V_s: ArrayLike,
                calc: ArrayLike, hedge: ArrayLike, model: SpanModel = SpanModel(),
                config: SpanConfig = DEFAULT_CONFIG) -> NDArray[np.float64]:
    """(n, 16) span values per share for n options priced alike (one ``SpanModel``).

    ``S_s``/``V_s`` (n, 16) come from ``scenario_grid``; ``calc`` holds ``CALC_TYPES``
    ordinals per row, ``hedge`` booleans per row (delta-neutral hedging).
    Tested: tests/span/test_span_quantlib.py (every scenario against QuantLib).
    """
    s, k, t, rr, qq, v, c = (np.atleast_1d(np.asarray(a, dtype=np.float64)).ravel() for a in
                             np.broadcast_arrays(S, K, t_years, r, q, vol, cp))
    n = s.shape[0]
    Ss = np.asarray(S_s, dtype=np.float64).reshape(n, N_SCENARIOS)
    Vs = np.asarray(V_s, dtype=np.float64).reshape(n, N_SCENARIOS)
    calc_a = np.broadcast_to(np.asarray(calc, dtype=np.int64), (n,))
    hedge_a = np.broadcast_to(np.asarray(hedge, dtype=bool), (n,))
    m1 = N_SCENARIOS + 1
    out = np.zeros((n, N_SCENARIOS))
    is_pnl = calc_a == 0
    need_g = (~is_pnl) | hedge_a
    w = config.weights()[None, :]
    for rows, greeks_pass in ((np.flatnonzero(is_pnl), False), (np.flatnonzero(need_g), True)):
        if rows.size == 0:
            continue
        m = rows.size
        allS = np.concatenate([s[rows, None], Ss[rows]], axis=1).ravel()
        allV = np.concatenate([v[rows, None], Vs[rows]], axis=1).ravel()
        args = [np.repeat(a[rows], m1) for a in (k, t, rr, qq)]
        c1 = np.repeat(c[rows], m1)
        if not greeks_pass:  # PnL rows: one pricing call
            p = _price_group(allS, args[0], args[1], args[2], args[3], allV, c1, model).reshape(m, m1)
            out[rows] = (p[:, 1:] - p[:, :1]) * w
            continue
        g = {key: a.reshape(m, m1) for key, a in
             _greeks_group(allS, args[0], args[1], args[2], args[3], allV, c1, model).items()}
        de0 = g["de"][:, :1]
        hd = hedge_a[rows][:, None]
        cc = calc_a[rows][:, None]
        tt = np.maximum(t[rows], 1e-9)[:, None]
        ve = g["ve"][:, 1:]
        choices = [g["de"][:, 1:] - np.where(hd, de0, 0.0), ve, ve * np.sqrt(_REF_YEARS / tt),
                   ve / np.sqrt(tt), ve * (_REF_YEARS / tt), g["ga"][:, 1:], g["th"][:, 1:]]
        hedge_pnl = de0 * (Ss[rows] - s[rows, None]) * w
        out[rows] = np.where(cc == 0, out[rows] - np.where(hd, hedge_pnl, 0.0),
                             np.select([cc == i for i in range(1, 8)], choices, np.nan))
    return out
