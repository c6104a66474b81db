"""The pure part of OptionTheoVol: one surface's theo vols, buy/sell vols and prices, greeks,
from inputs already gathered from the live tables (``TheoInputs``).  No store, bus or clock."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ...analytics import Exercise, Model
from ...analytics import greeks as _greeks
from ...analytics import price as _price
from ...analytics.theo import SurfaceSpec, buy_sell_vols, theo_vols

__all__ = ["TheoInputs", "theo_values"]

#: buy/sell offsets and edges of a surface record, by field name
OFFSET_FIELDS = ("bOpnVol", "sOpnVol", "bClsVol", "sClsVol", "bOpnEdge", "sOpnEdge", "bClsEdge",
                 "sClsEdge")


@dataclass(frozen=True, slots=True)
class TheoInputs:
    """What one surface's rows are computed from: the options (strikes ``K``, ``cp`` +1 call /
    -1 put), the underlier price ``u``, times to expiry (``T`` calendar years, ``t_vol`` in the
    surface's vol time units), rate and yields (``q`` the SR yield, ``q_buy``/``q_sell`` by the
    surface's divRule), exercise and model, cash dividends, the carry factor F/u, the SR
    surface (``svol`` per option, ``iatm`` per option, ``live_atm``), the surface spec, its
    buy/sell convention and offsets."""

    K: NDArray[np.float64]
    cp: NDArray[np.float64]
    u: float
    T: float
    t_vol: float
    r: float
    q: float
    q_buy: float
    q_sell: float
    exercise: Exercise
    model: Model
    dividends: tuple[NDArray[np.float64], NDArray[np.float64]] | None
    carry: float
    svol: NDArray[np.float64]
    iatm: NDArray[np.float64]
    live_atm: float
    spec: SurfaceSpec
    convention: str
    offsets: dict[str, float]


def theo_values(inp: TheoInputs) -> dict[str, Any]:
    """OptionTheoVol value columns (tvol, buy/sell vols and prices, greeks, veSlope, xAxis ...)."""
    n = len(inp.K)
    K, cp, u, T, r, q = inp.K, inp.cp, inp.u, inp.T, inp.r, inp.q
    sr_skew = inp.svol - (inp.iatm if np.isfinite(inp.iatm).any() else inp.live_atm)
    tvol, xax, tv_atm = theo_vols(inp.spec, K, u, inp.carry, inp.t_vol, inp.live_atm, sr_skew)
    h = 1e-4 * u
    tv_up = theo_vols(inp.spec, K, u + h, inp.carry, inp.t_vol, inp.live_atm, sr_skew)[0]
    ve_slope = (tv_up - tvol) / h
    scale = math.sqrt(inp.t_vol / T) if T > 0 and inp.t_vol > 0 else 1.0
    conv, g = inp.convention, inp.offsets
    bo, so = buy_sell_vols(conv, tvol, g["bOpnVol"], g["sOpnVol"])
    bc, sc = buy_sell_vols(conv, tvol, g["bClsVol"], g["sClsVol"])
    q_b, q_s = inp.q_buy, inp.q_sell
    vols = np.concatenate([tvol, bo, so, bc, sc]) * scale
    qs = np.concatenate([np.full(n, q), np.full(n, q_b), np.full(n, q_s), np.full(n, q_b),
                         np.full(n, q_s)])
    K5, cp5 = np.tile(K, 5), np.tile(cp, 5)
    p = _price(u, K5, T, r, qs, vols, cp5, inp.exercise, inp.model, inp.dividends).reshape(5, n)
    gk = _greeks(u, K, T, r, q, tvol * scale, cp, inp.exercise, inp.model, inp.dividends)
    tprc = p[0]
    b_open, s_open, b_cls, s_cls = p[1], p[2], p[3], p[4]
    if conv in ("BSOffsetPts", "BSOffsetPct"):
        pct = conv == "BSOffsetPct"
        off = {k: (tprc * g[k] if pct else np.full(n, g[k]))
               for k in ("bOpnVol", "sOpnVol", "bClsVol", "sClsVol")}
        b_open, s_open = tprc - off["bOpnVol"], tprc + off["sOpnVol"]
        b_cls, s_cls = tprc - off["bClsVol"], tprc + off["sClsVol"]
        vega = np.where(gk["ve"] > 1e-12, gk["ve"] * 100.0, np.nan)  # per 1.00 of vol
        bo = tvol - off["bOpnVol"] / vega
        so = tvol + off["sOpnVol"] / vega
    out: dict[str, Any] = {
        "tvol": tvol, "tvolBOpn": bo, "tvolSOpn": so, "tprc": tprc,
        "tbPrc": np.maximum(b_open - g["bOpnEdge"], 0.0), "tsPrc": s_open + g["sOpnEdge"],
        "tbClsPrc": np.maximum(b_cls - g["bClsEdge"], 0.0), "tsClsPrc": s_cls + g["sClsEdge"],
        "veSlope": ve_slope, "sdivB": np.full(n, q_b), "sdivS": np.full(n, q_s),
        "xAxis": xax, "tvolAtm": np.full(n, tv_atm),
        "calcErr": np.where(np.isfinite(tprc), "", "price failed").astype(object),
    }
    for key in ("de", "ga", "th", "ve", "vo", "va", "deDecay", "ro", "ph"):
        out[key] = gk[key]
    return out


#: the value columns of ``theo_values`` (NaN when the surface cannot be evaluated)
VALUE_COLUMNS = ("tvol", "tvolBOpn", "tvolSOpn", "tprc", "tbPrc", "tsPrc", "tbClsPrc", "tsClsPrc",
                 "veSlope", "de", "ga", "th", "ve", "vo", "va", "deDecay", "ro", "ph", "sdivB",
                 "sdivS", "xAxis", "tvolAtm")
