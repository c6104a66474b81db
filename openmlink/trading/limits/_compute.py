"""compute_limits: primary limit P by orderLimitType, then take/make effective limits by
limit class (Simple, Surface, Probability, SurfProb).  Pure, vectorised over orders.

Model prices (Vol limits, surface limits) come from ``analytics.row_prices``: the model the
implied-quote engine's ``surface_values`` uses to turn sVol into sPrc (the ALO American value
on the escrowed spot for American equity options, Black-76 on the forward for European or
Future-priced ones), so a Vol limit equal to sVol gives sPrc exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtri

from ...analytics import RowContext, row_prices
from ._enums import LIMIT_CLASS, LIMIT_ERR, LIMIT_TYPE, PRICE_TYPE
from ._memo import PriceMemo
from ._ticks import tick_at
from ._types import LimitModel, LimitResult, OrderLimits, SeriesMarket

__all__ = ["DEFAULT_MODEL", "SUPPORTED_TYPES", "compute_limits", "model_price"]

DEFAULT_MODEL = LimitModel()

F64 = NDArray[np.float64]
_E = LIMIT_ERR
_T = LIMIT_TYPE
_C = LIMIT_CLASS
_FUTURE = PRICE_TYPE["Future"]

#: limit types whose primary limit this module computes (others: BadLmtType)
SUPPORTED_TYPES = frozenset(_T[k] for k in (
    "Market", "MarketArrival", "Prc", "PrcDe", "PrcDeX", "Vol", "VolX", "RelMid", "RelJoin",
    "RelCross", "Aux"))


def _rows_price(vol: F64, u: F64, m: SeriesMarket, idx: NDArray[np.int64]) -> F64:
    """Model price of rows ``idx`` of ``m`` at vols ``vol`` and underlier ``u`` (both already
    restricted to ``idx``)."""
    n = len(idx)
    if n == 0:
        return np.empty(0)
    t = m.years[idx]
    r = m.rate[idx]
    q = m.sdiv[idx]
    ddiv = np.nan_to_num(m.ddiv[idx])
    fut = m.price_type[idx] == _FUTURE
    amer = m.american[idx] & ~fut
    with np.errstate(all="ignore"):
        fwd = np.where(fut, u + np.nan_to_num(m.u_off[idx]), (u - ddiv) * np.exp((r - q) * t))
    ctx = RowContext(u, fwd, m.strike[idx], m.cp[idx].astype(np.float64), t, r, q, ddiv, amer,
                     np.zeros((n, 5)))  # params: the smile is not used for a price at a given vol
    with np.errstate(all="ignore"):
        out = row_prices(ctx, vol)
        ok = (vol > 0) & (t > 0) & (u > 0) & np.isfinite(fwd) & (fwd > 0)
    return np.where(ok, out, np.nan)


def model_price(vol: ArrayLike, mkt: SeriesMarket, u: ArrayLike | None = None) -> NDArray[np.float64]:
    """Option value per row at ``vol`` (decimal) with the model that produces LiveImpliedQuote
    sPrc from sVol: Equity (American) rows on the escrowed spot ``u - ddiv`` with carry
    ``sdiv``; Future (European) rows Black-76 on ``u + u_off``.  ``u`` defaults to ``u_prc``.
    NaN where an input is missing or invalid."""
    n = len(mkt)
    v = np.broadcast_to(np.asarray(vol, np.float64), (n,)).copy()
    uu = mkt.u_prc if u is None else np.broadcast_to(np.asarray(u, np.float64), (n,)).copy()
    return _rows_price(v, uu, mkt, np.arange(n))


def _mid(bid: F64, ask: F64) -> F64:
    return 0.5 * (bid + ask)


def _most_protective(side: NDArray[np.int8], a: F64, b: F64) -> F64:
    """min for buys, max for sells."""
    return np.where(side > 0, np.minimum(a, b), np.maximum(a, b))


class _Batch:
    """Model prices wanted by several parts of one call, priced in a single kernel call (the
    rows ``memo`` does not know yet)."""

    def __init__(self, m: SeriesMarket, memo: PriceMemo | None = None) -> None:
        self.m = m
        self.memo = memo
        self.vols: list[F64] = []
        self.us: list[F64] = []
        self.idx: list[NDArray[np.int64]] = []

    def want(self, idx: NDArray[np.int64], vol: F64, u: F64) -> int:
        self.idx.append(idx)
        self.vols.append(vol)
        self.us.append(u)
        return len(self.idx) - 1

    def run(self) -> list[F64]:
        if not self.idx:
            return []
        if not any(len(i) for i in self.idx):  # nothing to price (e.g. only Prc limits)
            return [np.empty(0) for _ in self.idx]
        idx = np.concatenate(self.idx)
        vol, u = np.concatenate(self.vols), np.concatenate(self.us)
        if self.memo is None:
            px = _rows_price(vol, u, self.m, idx)
        else:
            m = self.m
            inputs = np.stack([vol, u, m.ddiv[idx], m.u_off[idx], m.strike[idx], m.years[idx],
                               m.rate[idx], m.sdiv[idx], m.cp[idx], m.american[idx],
                               m.price_type[idx]], axis=1).astype(np.float64)
            px = self.memo.prices(inputs, lambda rows: _rows_price(vol[rows], u[rows], m,
                                                                  idx[rows]))
        cuts = np.cumsum([len(i) for i in self.idx])[:-1]
        return np.split(px, cuts)


def _nbbo_state(m: SeriesMarket, model: LimitModel) -> tuple[NDArray[np.bool_], NDArray[np.bool_],
                                                              NDArray[np.bool_], NDArray[np.bool_]]:
    """(has bid, has ask, crossed, wide) per row."""
    with np.errstate(invalid="ignore"):
        has_bid = np.isfinite(m.bid) & (m.bid > 0)
        has_ask = np.isfinite(m.ask) & (m.ask > 0)
        two = has_bid & has_ask
        crossed = two & (m.bid > m.ask)
        width = m.ask - m.bid
        mid = _mid(m.bid, m.ask)
        wide = two & (width > model.wide_width_ticks * tick_at(mid, m.tick_below3, m.tick_above3)) \
            & (width > model.wide_width_frac * mid)
    return has_bid, has_ask, crossed, wide


def _primary(o: OrderLimits, m: SeriesMarket, model: LimitModel, batch: _Batch
             ) -> tuple[F64, NDArray[np.int16], list[tuple[int, NDArray[np.int64]]]]:
    """Primary limit P (model-priced rows left NaN and registered in ``batch``) and its error."""
    n = len(o.side)
    side = o.side.astype(np.int64)
    lt = o.limit_type.astype(np.int64)
    p = np.full(n, np.nan)
    err = np.full(n, _E["None"], np.int16)
    with np.errstate(invalid="ignore"):
        u_mid = np.where(np.isfinite(m.u_bid) & np.isfinite(m.u_ask) & (m.u_bid > 0)
                         & (m.u_ask >= m.u_bid), _mid(m.u_bid, m.u_ask), m.u_prc)
        u_x = np.where(side > 0, m.u_ask, m.u_bid)
        prc_ok = np.isfinite(o.prc_limit) & (o.prc_limit > 0)
        vol_ok = np.isfinite(o.vol_limit) & (o.vol_limit > 0)

    # Aux with a limit record but still typed Aux: the record's price, else its vol
    aux = lt == _T["Aux"]
    lt = np.where(aux & o.has_aux & prc_ok, _T["Prc"], lt)
    lt = np.where(aux & o.has_aux & ~prc_ok & vol_ok, _T["Vol"], lt)
    err[aux & ~o.has_aux] = _E["AuxLimit"]
    err[aux & o.has_aux & ~prc_ok & ~vol_ok] = _E["AuxLimit"]
    unsupported = ~np.isin(lt, np.fromiter(SUPPORTED_TYPES, np.int64))
    err[unsupported] = _E["BadLmtType"]

    def pick(name: str) -> NDArray[np.bool_]:
        return (lt == _T[name]) & (err == _E["None"])

    # a block whose limit types no row has is skipped (it would change nothing)
    kinds = frozenset(np.unique(lt).tolist())

    # Prc
    sel = pick("Prc")
    p[sel] = o.prc_limit[sel]
    err[sel & ~prc_ok] = _E["LmtPrcErr"]
    if kinds.isdisjoint(_NBBO_TYPES | _DE_TYPES | _VOL_TYPES | {_T["MarketArrival"]}):
        return p, err, [(batch.want(_NO_ROWS, np.empty(0), np.empty(0)), _NO_ROWS)]

    # PrcDe / PrcDeX: P = prc + de (u - ref) + 1/2 ga (u - ref)^2
    sel = pick("PrcDe") | pick("PrcDeX")
    u = np.where(lt == _T["PrcDeX"], u_x, u_mid)
    de = np.where(np.isfinite(o.ref_delta), o.ref_delta, m.de)
    ga = np.where(np.isfinite(o.ref_gamma), o.ref_gamma, np.nan_to_num(m.ga))
    with np.errstate(invalid="ignore"):
        du = u - o.ref_uprc
        p_de = o.prc_limit + de * du + 0.5 * ga * du * du
        bad_u = ~(np.isfinite(u) & (u > 0))
    err[sel & ~prc_ok] = _E["LmtPrcErr"]
    err[sel & prc_ok & bad_u] = _E["NoUPrc"]
    err[sel & prc_ok & ~bad_u & ~np.isfinite(o.ref_uprc)] = _E["RefUPrcErr"]
    err[sel & (err == _E["None"]) & ~np.isfinite(de)] = _E["BadRefDelta"]
    ok = sel & (err == _E["None"])
    p[ok] = p_de[ok]

    # Vol / VolX: model price at orderVolLimit (priced in the batch)
    sel = pick("Vol") | pick("VolX")
    u = np.where(lt == _T["VolX"], u_x, m.u_prc)
    with np.errstate(invalid="ignore"):
        in_rng = (o.vol_limit >= model.vol_min) & (o.vol_limit <= model.vol_max)
        u_bad = ~(np.isfinite(u) & (u > 0))
    err[sel & ~in_rng] = _E["BadVolLmt"]
    err[sel & in_rng & u_bad] = _E["NoUPrc"]
    vol_rows = np.flatnonzero(sel & (err == _E["None"]))
    slots = [(batch.want(vol_rows, o.vol_limit[vol_rows], u[vol_rows]), vol_rows)]

    if kinds.isdisjoint(_NBBO_TYPES | {_T["MarketArrival"]}):
        return p, err, slots

    # Market: several ticks through the opposite side
    has_bid, has_ask, crossed, wide = _nbbo_state(m, model)
    sel = pick("Market")
    opp = np.where(side > 0, m.ask, m.bid)
    has_opp = np.where(side > 0, has_ask, has_bid)
    t_opp = tick_at(opp, m.tick_below3, m.tick_above3)
    p_mkt = np.where(side > 0, opp + model.market_ticks * t_opp,
                     np.maximum(opp - model.market_ticks * t_opp, m.tick_below3))
    _nbbo_errors(sel, has_opp, crossed, wide, err)
    ok = sel & (err == _E["None"])
    p[ok] = p_mkt[ok]

    # MarketArrival: opposite side frozen at arrival
    sel = pick("MarketArrival")
    arr = np.where(side > 0, o.arrive_ask, o.arrive_bid)
    with np.errstate(invalid="ignore"):
        arr_ok = np.isfinite(arr) & (arr > 0)
    err[sel & ~arr_ok] = _E["NoOptNbbo"]
    ok = sel & arr_ok
    p[ok] = arr[ok]

    # RelMid / RelJoin / RelCross (+ dir * orderPrcOffset below, like every type)
    for name, base, need in (("RelMid", _mid(m.bid, m.ask), has_bid & has_ask),
                             ("RelJoin", np.where(side > 0, m.bid, m.ask),
                              np.where(side > 0, has_bid, has_ask)),
                             ("RelCross", opp, has_opp)):
        sel = pick(name)
        _nbbo_errors(sel, need, crossed, wide, err)
        ok = sel & (err == _E["None"])
        p[ok] = base[ok]

    return p, err, slots


_NBBO_TYPES = frozenset(_T[k] for k in ("Market", "RelMid", "RelJoin", "RelCross"))
_DE_TYPES = frozenset(_T[k] for k in ("PrcDe", "PrcDeX"))
_VOL_TYPES = frozenset(_T[k] for k in ("Vol", "VolX"))
_NO_ROWS = np.empty(0, np.int64)


def _nbbo_errors(sel: NDArray[np.bool_], has: NDArray[np.bool_], crossed: NDArray[np.bool_],
                 wide: NDArray[np.bool_], err: NDArray[np.int16]) -> None:
    err[sel & ~has] = _E["NoOptNbbo"]
    err[sel & has & crossed] = _E["CrossOptNbbo"]
    err[sel & has & ~crossed & wide] = _E["WideOptNbbo"]


def _finish_primary(o: OrderLimits, p: F64, err: NDArray[np.int16]) -> F64:
    side = o.side.astype(np.int64)
    with np.errstate(invalid="ignore"):
        p = p + side * np.nan_to_num(o.prc_offset)
        bad = (err == _E["None"]) & ~np.isfinite(p)
        err[bad] = _E["VolCalcErr"]
        low = (err == _E["None"]) & (side > 0) & (p <= 0)
    err[low] = _E["LmtPrcRng"]
    return np.where(err == _E["None"], p, np.nan)


def _prob_prices(side: NDArray[np.int64], prob: F64, m: SeriesMarket, model: LimitModel
                 ) -> tuple[F64, NDArray[np.int16]]:
    """Probability limit L = mu + dir * sigma * Phi^-1(1 - p), mu = sMark (else NBBO mid),
    sigma = kappa * avgWidth (else the current width)."""
    n = len(side)
    err = np.full(n, _E["None"], np.int16)
    with np.errstate(invalid="ignore"):
        two = np.isfinite(m.bid) & np.isfinite(m.ask) & (m.bid > 0) & (m.ask >= m.bid)
        mu = np.where(np.isfinite(m.s_mark), m.s_mark, np.where(two, _mid(m.bid, m.ask), np.nan))
        width = np.where(np.isfinite(m.avg_width) & (m.avg_width > 0), m.avg_width,
                         np.where(two, m.ask - m.bid, np.nan))
        p_ok = np.isfinite(prob) & (prob > 0) & (prob < 1)
        z = ndtri(1.0 - np.where(p_ok, prob, 0.5))
        price = mu + side * model.prob_kappa * width * z
    err[~p_ok] = _E["ProbRng"]
    err[p_ok & ~np.isfinite(mu)] = _E["NoOptNbbo"]
    err[p_ok & np.isfinite(mu) & ~(width > 0)] = _E["InvldMktWidth"]
    return np.where(err == _E["None"], price, np.nan), err


def _side_limits(o: OrderLimits, m: SeriesMarket, model: LimitModel, p: F64,
                 p_err: NDArray[np.int16], cls: NDArray[np.int16], prob: F64, vol_off: F64,
                 prc_off: F64, width_off: F64, surf: F64, surf_err: NDArray[np.int16]
                 ) -> tuple[F64, NDArray[np.int16], F64, F64, F64]:
    """(effective limit, error, p used, surface limit, probability-limit price) of one side."""
    side = o.side.astype(np.int64)
    cls = cls.astype(np.int64)
    use_surf = (cls == _C["Surface"]) | (cls == _C["SurfProb"])
    use_prob = (cls == _C["Probability"]) | (cls == _C["SurfProb"])
    if not (use_surf.any() or use_prob.any()):  # every row Simple: the limit is P
        err = p_err.copy()
        with np.errstate(invalid="ignore"):
            err[(err == _E["None"]) & (side > 0) & ~(p > 0)] = _E["LmtPrcRng"]
        none = np.full(len(side), np.nan)
        return np.where(err == _E["None"], p, np.nan), err, none, none.copy(), none.copy()
    with np.errstate(invalid="ignore"):
        wo = np.nan_to_num(width_off)
        width = np.where(np.isfinite(m.avg_width) & (m.avg_width > 0), m.avg_width,
                         m.ask - m.bid)
        s = surf + side * np.nan_to_num(prc_off) + side * wo * 0.5 * np.where(wo != 0, width, 0.0)
    s_err = surf_err.copy()
    s_err[(s_err == _E["None"]) & (wo != 0) & ~(width > 0)] = _E["InvldMktWidth"]
    s_err[(s_err == _E["None"]) & ~np.isfinite(s)] = _E["SurfErr"]
    s = np.where(use_surf & (s_err == _E["None"]), s, np.nan)
    pp, pr_err = _prob_prices(side, prob, m, model)
    pp = np.where(use_prob, pp, np.nan)

    lim = p.copy()
    err = p_err.copy()
    ok = err == _E["None"]
    bad_s = ok & use_surf & (s_err != _E["None"])
    err[bad_s] = s_err[bad_s]
    ok = err == _E["None"]
    bad_p = ok & use_prob & (pr_err != _E["None"])
    err[bad_p] = pr_err[bad_p]
    with np.errstate(invalid="ignore"):
        lim = np.where(use_surf, _most_protective(o.side, lim, s), lim)
        lim = np.where(use_prob, _most_protective(o.side, lim, pp), lim)
        low = (err == _E["None"]) & (side > 0) & ~(lim > 0)
    err[low] = _E["LmtPrcRng"]
    lim = np.where(err == _E["None"], lim, np.nan)
    return lim, err, np.where(use_prob, prob, np.nan), s, pp


@dataclass
class _SurfIn:
    base: F64  # sPrc where the vol offset is 0, else NaN until priced
    err: NDArray[np.int16]
    need: NDArray[np.bool_]  # rows to model-price
    vol: F64  # sVol + dir * offset


def _surface_inputs(o: OrderLimits, m: SeriesMarket, model: LimitModel, cls: NDArray[np.int16],
                    voff: F64) -> _SurfIn:
    n = len(o.side)
    c = cls.astype(np.int64)
    use = (c == _C["Surface"]) | (c == _C["SurfProb"])
    if not use.any():  # no surface limit: nothing to price, no error (the limit ignores it)
        return _SurfIn(np.full(n, np.nan), np.full(n, _E["None"], np.int16),
                       np.zeros(n, np.bool_), np.full(n, np.nan))
    dv = o.side * np.nan_to_num(voff) * model.vol_offset_unit
    e = np.full(n, _E["None"], np.int16)
    with np.errstate(invalid="ignore"):
        v = m.s_vol + dv
        e[use & ~(np.isfinite(m.s_vol) & (m.s_vol > 0))] = _E["NoSurface"]
        e[use & (e == _E["None"]) & ~(v > 0)] = _E["SurfVolRng"]
        base = np.where(dv == 0, m.s_prc, np.nan)
    need = use & (e == _E["None"]) & ((dv != 0) | ~np.isfinite(m.s_prc))
    return _SurfIn(base, e, need, v)


def compute_limits(orders: OrderLimits, mkt: SeriesMarket,
                   model: LimitModel = DEFAULT_MODEL, memo: PriceMemo | None = None
                   ) -> LimitResult:
    """Limits of every order against its series' market (docs/trading-limits.md).  ``memo``:
    model prices of rows priced before with exactly the same inputs are taken from it (and
    the new ones added): the same limits, without the American pricing a quote-only move
    would repeat.

    Never raises on bad market data: a row that cannot be priced gets NaN and a LimitError
    ordinal in ``limit_err`` / ``take_err`` / ``make_err``.  Raises ValueError only when the
    column sets are malformed (not 1-D, lengths differ).
    """
    n = len(orders)
    if len(mkt) != n:
        raise ValueError(f"SeriesMarket has {len(mkt)} rows, OrderLimits {n}")
    if not np.all(np.abs(orders.side) == 1):
        raise ValueError("OrderLimits.side: every row must be +1 (buy) or -1 (sell)")
    res = LimitResult.blank(n)
    if n == 0:
        return res
    batch = _Batch(mkt, memo)
    p, p_err, vol_slots = _primary(orders, mkt, model, batch)
    # surface limits: model price at sVol + dir * volOffset (sPrc itself when the offset is 0)
    take = _surface_inputs(orders, mkt, model, orders.take_class, orders.take_surf_vol_off)
    make = _surface_inputs(orders, mkt, model, orders.make_class, orders.make_surf_vol_off)
    share = make.need & take.need & (make.vol == take.vol)  # same vol: price once
    rows_t = np.flatnonzero(take.need)
    rows_m = np.flatnonzero(make.need & ~share)
    slot_t = batch.want(rows_t, take.vol[rows_t], mkt.u_prc[rows_t])
    slot_m = batch.want(rows_m, make.vol[rows_m], mkt.u_prc[rows_m])

    priced = batch.run()
    for slot, rows in vol_slots:
        p[rows] = priced[slot]
    take.base[rows_t] = priced[slot_t]
    make.base[rows_m] = priced[slot_m]
    make.base[share] = take.base[share]
    p = _finish_primary(orders, p, p_err)

    res.limit_price = p
    res.limit_err = p_err
    (res.take_limit, res.take_err, res.take_prob_limit, res.take_surf, res.take_prob_prc) = \
        _side_limits(orders, mkt, model, p, p_err, orders.take_class, orders.take_prob,
                     orders.take_surf_vol_off, orders.take_surf_prc_off,
                     orders.take_surf_width_off, take.base, take.err)
    (res.make_limit, res.make_err, res.make_prob_limit, res.make_surf, res.make_prob_prc) = \
        _side_limits(orders, mkt, model, p, p_err, orders.make_class, orders.make_prob,
                     orders.make_surf_vol_off, orders.make_surf_prc_off,
                     orders.make_surf_width_off, make.base, make.err)
    return res
