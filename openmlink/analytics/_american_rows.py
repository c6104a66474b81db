"""American price, greeks and slides of whole expiries from the ALO boundary tables.

The engine prices American rows with the ALO collocation over ``BoundaryTables`` (one exercise
boundary table per expiry, side and vol range).  This module gives the greeks and slides of
that same model, cheaply:

* price = European closed form + early-exercise premium E, the premium integral over the
  table's boundary (``_american_grouped``); E is homogeneous of degree one in (spot, strike),
  so per unit of the put-equivalent strike it is e(x), x = ln(S_p/K_p), and every spot or
  strike derivative follows from e, e_x, e_xx (calls by put-call symmetry
  C(S, K, r, q) = P(K, S, q, r));
* spot, vol, rate and yield derivatives of e are analytic derivatives of the quadrature sum,
  holding the nodes: the integrand's own dependence plus that of ln B (the boundary), whose
  vol derivatives come from the table's interpolation in ln(vol) and whose rate/yield
  derivatives from slope tables (``BoundarySlopes``: d ln B/dr, d ln B/dq by one-sided
  differences h = min(1e-7, r/100) at up to 7 vol nodes, interpolated in ln vol);
* time derivatives (theta, deDecay) read the same nodes, no table at another expiry: the
  premium is E(T) = int_0^T f(t, B(T - t)) dt (t elapsed, B a function of the time left), so
  dE/dT = f(0, B(T)) + int_0^T f_t(t, B(T - t)) dt, f_t the integrand's own time derivative
  (boundary held), f(0, B(T)) = 0 off the exercise region.  Just above the boundary f_t peaks
  like a delta at t ~ (gap/vol)^2, which no fixed quadrature resolves, so the sum integrates
  f_t(t, B(T - t)) - f_t(t, B(T)) (nil there) and adds int_0^T f_t(t, B(T)) dt = f(T, B(T)) in
  closed form (the central differences over tables at t +- 0.25 day this replaces were 1.4e-4
  off in theta on a 3-day put near the boundary);
* near the boundary (ln S - ln B(T) below _NEAR vol sqrt(T)) the integrand's derivatives peak
  like a delta at sqrt(t) ~ (ln S - ln B)/vol, which the price rule's fixed points miss (gamma
  9% off QD+ at a time value of 1.1e-4, volga 8%): the sum takes the integrand less that of a
  model boundary (today's ln B moving linearly in t, its vol, rate and yield slopes today's),
  and adds the model's integral on a composite Gauss rule graded from that width (``_near_rule``:
  8 points a panel, each 4 times the last); the price itself stays ``premium_sum``'s, as the
  tables' and the slides';
* slides are repriced at the moved spot on the same table.

European parts come from ``_black.euro_rows_kernel``.  Units as ``_black`` (greeks per
LiveImpliedQuote: th per day as -dV/dt/365, ve per vol point, ro/ph per 1%).  Rows without a
table (a key with too few rows, edge cases) use the row-by-row bump greeks of ``_greeks``.
Tested: tests/analytics/test_american_rows.py (QuantLib QD+ high precision, hypothesis).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

from ._american import (
    PREMIUM_ROWS,
    amer_price_kernel,
    exp_loop,
    phi_loop,
    premium_sum,
)
from ._american_grouped import (
    MIN_TABLE_ROWS,
    BoundaryTables,
    _plain_row,
    _weights,
    build_tables,
    lnxk,
)
from ._api import DEFAULT_SCHEME, FD_GRID
from ._black import euro_price1, euro_rows_kernel
from ._greeks import fd_greeks_kernel
from ._jit import JitOptions
from ._normal import _INV_SQRT_2PI, norm_cdf, norm_pdf
from ._parallel import parallel_enabled

__all__ = ["MIN_ROWS", "american_rows"]

_JIT: JitOptions = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}
_IJIT: JitOptions = {**_JIT, "inline": "always"}
_PJIT: JitOptions = {**_JIT, "parallel": True}
_DAYS = 365.0
_DX = 1e-3
"""Step in the table's Chebyshev vol coordinate for ln B's vol derivatives."""
_EMPTY = np.empty(0)
MIN_ROWS = 4
"""A vol range of a key (expiry, side) with this many rows gets its tables (a boundary table
and a slope table; row-by-row bump greeks cost ~25 boundaries a row)."""


@njit(**_IJIT)
def _sh(hz: NDArray[np.float64], j: int, w: NDArray[np.float64], p: int) -> float:
    acc = 0.0
    for u in range(w.shape[0]):
        acc += w[u] * hz[j, u, p]
    return math.sqrt(max(acc, 0.0))


N_SLOPE_VOL = 7
"""Most vol nodes of a slope table (d ln B / dr, d ln B / dq in ln vol; on an 18-day put at
r ~ q rho was 2.7e-4 off with 4 nodes over a vol ratio of 3.1, 1.6e-5 with 5, 3e-5 with 6,
9e-6 with 8)."""


class BoundarySlopes(BoundaryTables):
    """Memo of slope tables (rate and yield derivatives of ln B at the price-integral points,
    ``_american_grouped._node``), keyed and ranged as ``BoundaryTables``: 3 boundaries per vol
    node, about half the nodes of a boundary table of the same width."""

    SLOPE = True
    PAD = 1.02  # (read by american_rows' one call per chunk: no nearby vols to serve later)

    def __init__(self, max_tables: int = 50_000, min_rows: int = MIN_TABLE_ROWS) -> None:
        super().__init__(max_tables=max_tables, n_vol=N_SLOPE_VOL, min_rows=min_rows)

    def nodes(self, width: NDArray[np.float64]) -> NDArray[np.int64]:
        """6 nodes over a vol ratio of 3.1 (width 1.13), as measured above; fewer when narrower;
        one for a single vol (the node at the row's own vol: exact)."""
        one = width <= 2.0 * math.log(self.PAD) + 1e-12
        return np.where(one, 1, np.clip(np.ceil(2.0 + 3.5 * width), 3, self.n_vol)).astype(np.int64)

    def table_shape(self) -> tuple[int, ...]:
        return (self.n_vol, 2 * DEFAULT_SCHEME[4].shape[0])


@njit(**_IJIT)
def _time_d(yy: float, tp: float, u: float, rp: float, qp: float, rr: float, qq: float, d: float,
            n1: float, n2: float, p1: float, p2: float) -> tuple[float, float, float, float]:
    """(f, f_x, f_t, f_xt) of the premium integrand f(t) = rp e^{-rp t} N(u - d)
    - qp e^{-qp t} e^x N(-d) at elapsed time tp, u = vol sqrt(tp), yy = x - ln B + (rp - qp) tp,
    d = yy/u + u/2, the boundary B held; given rr = rp e^{-rp tp}, qq = qp e^{-qp tp} e^x,
    n1 = N(-d), n2 = N(u - d), p1 = phi(d), p2 = phi(d - u) (arithmetic only)."""
    dmu = d - u
    g = qq * p1 - rr * p2
    u_t = 0.5 * u / tp
    d_t = (rp - qp) / u - yy * u_t / (u * u) + 0.5 * u_t
    f_t = -rp * rr * n2 + qp * qq * n1 + rr * p2 * u_t + g * d_t
    g_t = -qp * qq * p1 - qq * d * p1 * d_t + rp * rr * p2 + rr * dmu * p2 * (d_t - u_t)
    return (rr * n2 - qq * n1, -qq * n1 + g / u, f_t,
            qp * qq * n1 + qq * p1 * d_t + g_t / u - g * u_t / (u * u))


@njit(**_JIT)
def _time_parts(yy: float, tp: float, u: float, rp: float, qp: float, ex: float
                ) -> tuple[float, float, float, float]:
    """``_time_d`` of one point, its exp and normal functions by libm (a row's closed-form end
    term)."""
    d = yy / u + 0.5 * u
    return _time_d(yy, tp, u, rp, qp, rp * math.exp(-rp * tp), qp * math.exp(-qp * tp) * ex, d,
                   norm_cdf(-d), norm_cdf(u - d), norm_pdf(d), norm_pdf(d - u))


@njit(**_IJIT)
def _mix(hz: NDArray[np.float64], j: int, w: NDArray[np.float64], out: NDArray[np.float64],
         root: bool) -> None:
    """out[p] = sum_u w[u] hz[j, u, p] over the price-integral points (u outer: vector loops);
    its square root floored at 0 when ``root`` (sqrt(H), from a boundary table)."""
    n = out.shape[0]
    for p in range(n):
        out[p] = w[0] * hz[j, 0, p]
    for u in range(1, w.shape[0]):
        wu = w[u]
        for p in range(n):
            out[p] += wu * hz[j, u, p]
    if root:
        for p in range(n):
            out[p] = math.sqrt(out[p] if out[p] > 0.0 else 0.0)


@njit(**_IJIT)
def _am_value(s: float, k: float, t: float, r: float, q: float, v: float, cp: float,
              lnb_now: float, sh: NDArray[np.float64], scheme: tuple, w: NDArray[np.float64]
              ) -> float:
    """American value at (s, k) over the row's boundary (sqrt(H) ``sh`` at the price-integral
    points, today's ln boundary ``lnb_now``; scratch ``w`` as ``premium_sum``'s)."""
    if _plain_row(s, k, t, r, q, v, cp) == 1:
        return max(0.0, euro_price1(s, k, t, r, q, v, cp))
    put = cp < 0.0
    sp = s if put else k
    kp = k if put else s
    rp = r if put else q
    qp = q if put else r
    x = math.log(sp / kp)
    if x <= lnb_now:
        return kp - sp
    e = premium_sum(x - lnxk(rp, qp), sh, t, rp, qp, v, sp, kp, scheme, w)
    return max(max(euro_price1(s, k, t, r, q, v, cp), 0.0) + max(e, 0.0), kp - sp)


_PS = 15
"""First row of ``premium_sum``'s scratch in a row's scratch."""
_NW = _PS + PREMIUM_ROWS
"""First row of ``_premium_parts``' exp / normal work rows (16 of them)."""
_N_SCRATCH = _NW + 16
"""Rows of a row's scratch (``_row``): sqrt(H) at the row's vol and +-_DX, ln B's rate and yield
slopes, the ten weighted integrand parts, the slides' premium scratch, the exp / normal work."""


@njit(**_IJIT)
def _premium_parts(x: float, lnxk: float, lnb_now: float, v: float, cx: float, rp: float,
                   qp: float, tt: float, px: NDArray[np.float64], pw: NDArray[np.float64],
                   sc: NDArray[np.float64]) -> None:
    """The ten weighted integrand parts of e and its derivatives at every price-integral point
    (sc rows 0-4 in: sqrt(H) at v, v+, v-, d ln B/dr, d ln B/dq; rows 5-14 out: f, f_x, f_xx,
    f_v, f_vv, f_xv, f_r, f_q, f_t, f_xt times the quadrature weight): the arguments, then their
    exp and normal functions in vector loops (``exp_loop``, ``phi_loop``: rows _NW..), then
    the arithmetic."""
    n = px.shape[0]
    half = 0.5 * math.sqrt(tt)
    ex = math.exp(x)
    a0 = _NW  # -d, -(d - u), -d0, -(d0 - u); then e of each (4 rows), Phi (4), exp args, exps
    for p in range(n):
        z = half * (px[p] + 1.0)
        tp = z * z
        u = v * z
        yy = x - (lnxk - sc[0, p]) + (rp - qp) * tp
        d = yy / u + 0.5 * u
        d0 = (x - lnb_now + (rp - qp) * tp) / u + 0.5 * u
        sc[a0, p] = -d
        sc[a0 + 1, p] = u - d
        sc[a0 + 2, p] = -d0
        sc[a0 + 3, p] = u - d0
        sc[a0 + 12, p] = -rp * tp
        sc[a0 + 13, p] = -qp * tp
    for m in range(4):
        phi_loop(sc[a0 + m, :n], sc[a0 + 4 + m, :n], sc[a0 + 8 + m, :n])
    exp_loop(sc[a0 + 12, :n], sc[a0 + 14, :n])
    exp_loop(sc[a0 + 13, :n], sc[a0 + 15, :n])
    for p in range(n):
        z = half * (px[p] + 1.0)
        tp = z * z
        u = v * z
        sh0 = sc[0, p]
        shp = sc[1, p]
        shm = sc[2, p]
        lnb = lnxk - sh0
        lnb_x1 = -(shp - shm) / (2.0 * _DX)
        lnb_x2 = -(shp - 2.0 * sh0 + shm) / (_DX * _DX)
        lnb_v = lnb_x1 * cx
        lnb_vv = lnb_x2 * cx * cx - lnb_x1 * cx / v
        lnb_r = sc[3, p]
        lnb_q = sc[4, p]
        yy = x - lnb + (rp - qp) * tp
        d = -sc[a0, p]
        big_r = sc[a0 + 14, p]
        big_d = sc[a0 + 15, p]
        rr = rp * big_r
        qq = qp * big_d * ex
        dmu = d - u
        n1 = sc[a0 + 8, p]
        n2 = sc[a0 + 9, p]
        p1 = _INV_SQRT_2PI * sc[a0 + 4, p]
        p2 = _INV_SQRT_2PI * sc[a0 + 5, p]
        f = rr * n2 - qq * n1
        g = qq * p1 - rr * p2  # df/dd
        gd = -qq * p1 * d + rr * p2 * dmu  # dg/dd
        gu = -rr * p2 * dmu  # dg/du
        gx = qq * p1  # dg/dx, d held
        f_x = -qq * n1 + g / u
        f_xx = -qq * n1 + qq * p1 / u + (gx + gd / u) / u
        y_v = -lnb_v
        y_vv = -lnb_vv
        d_v = y_v / u - yy * z / (u * u) + 0.5 * z
        d_vv = y_vv / u - 2.0 * y_v * z / (u * u) + 2.0 * yy * z * z / (u * u * u)
        f_v = g * d_v + rr * p2 * z
        f_vv = (gd * d_v + gu * z) * d_v + g * d_vv - rr * z * dmu * p2 * (d_v - z)
        f_xv = (gx + gd / u) * d_v - g * z / (u * u) - rr * z * dmu * p2 / u
        f_r = big_r * (1.0 - rp * tp) * n2 + g * (tp - lnb_r) / u
        f_q = -big_d * (1.0 - qp * tp) * ex * n1 + g * (-tp - lnb_q) / u
        # time (theta, deDecay; module docstring): the integrand less its value with the
        # boundary held at today's, whose integral is closed form (added by the caller)
        _, _, f_t, f_xt = _time_d(yy, tp, u, rp, qp, rr, qq, d, n1, n2, p1, p2)
        _, _, f_t0, f_xt0 = _time_d(x - lnb_now + (rp - qp) * tp, tp, u, rp, qp, rr, qq,
                                    -sc[a0 + 2, p], sc[a0 + 10, p], sc[a0 + 11, p],
                                    _INV_SQRT_2PI * sc[a0 + 6, p], _INV_SQRT_2PI * sc[a0 + 7, p])
        wt = pw[p] * 2.0 * z * half
        sc[5, p] = wt * f
        sc[6, p] = wt * f_x
        sc[7, p] = wt * f_xx
        sc[8, p] = wt * f_v
        sc[9, p] = wt * f_vv
        sc[10, p] = wt * f_xv
        sc[11, p] = wt * f_r
        sc[12, p] = wt * f_q
        sc[13, p] = wt * (f_t - f_t0)
        sc[14, p] = wt * (f_xt - f_xt0)


_N_PARTS = 10
"""Weighted integrand parts of ``_premium_parts`` (sc rows 5-14)."""
_NEAR = 0.5
"""A row with ln(S/B) below this many vol sqrt(T) of today's boundary gets the near rule."""
_NEAR_PTS = 8
_NEAR_RATIO = 4.0
_NEAR_PANELS = 12
_NEAR_MAX = _NEAR_PTS * _NEAR_PANELS
_GX, _GW = np.polynomial.legendre.leggauss(_NEAR_PTS)


_PB = 3
"""Price-integral point (elapsed time ~6e-4 T) whose boundary gives the near rule's model slope."""


@njit(**_IJIT)
def _model(sq: tuple, beta: float, px: NDArray[np.float64], tt: float,
           sr: NDArray[np.float64]) -> None:
    """The near rule's model boundary at points px (``_premium_parts``' rows 0-4): today's
    ln B moving linearly in elapsed time t at ``beta``, its vol, rate and yield slopes held."""
    half = 0.5 * math.sqrt(tt)
    for p in range(px.shape[0]):
        z = half * (px[p] + 1.0)
        m = beta * z * z
        sr[0, p] = sq[0] - m
        sr[1, p] = sq[1] - m
        sr[2, p] = sq[2] - m
        sr[3, p] = sq[3]
        sr[4, p] = sq[4]


@njit(**_IJIT)
def _add_parts(sc: NDArray[np.float64], n: int, parts: int, sign: float,
               es: NDArray[np.float64]) -> None:
    """es[g] += sign * sum of sc row 5 + g over the first n points, g < parts."""
    for g in range(parts):
        acc = 0.0
        for p in range(n):
            acc += sc[5 + g, p]
        es[g] += sign * acc


@njit(**_IJIT)
def _near_rule(a: float, zt: float, rx: NDArray[np.float64], rw: NDArray[np.float64]) -> int:
    """Composite Gauss-Legendre rule over z = sqrt(t) in [0, zt] (``_premium_parts``' point
    coordinate px = 2 z/zt - 1 and weight per dz/(zt/2)): panels [0, a], then each
    _NEAR_RATIO times the last, at most _NEAR_PANELS; returns the number of points."""
    a = min(max(a, zt * _NEAR_RATIO ** (1 - _NEAR_PANELS)), 0.25 * zt)
    lo = 0.0
    hi = a
    n = 0
    half = 0.5 * zt
    while True:
        last = hi >= zt or n + 2 * _NEAR_PTS > rx.shape[0]
        if last:
            hi = zt
        for g in range(_NEAR_PTS):
            rx[n] = (lo + 0.5 * (hi - lo) * (_GX[g] + 1.0)) / half - 1.0
            rw[n] = 0.5 * (hi - lo) * _GW[g] / half
            n += 1
        if last:
            break
        lo = hi
        hi = hi * _NEAR_RATIO
    return n


@njit(**_JIT)
def _row(i: int, s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
         r: NDArray[np.float64], q: NDArray[np.float64], vol: NDArray[np.float64],
         cp: NDArray[np.float64], slots: NDArray[np.int64], vlo: NDArray[np.float64],
         vhi: NDArray[np.float64], nv0: NDArray[np.int64], hz: NDArray[np.float64],
         svlo: NDArray[np.float64], svhi: NDArray[np.float64], nv1: NDArray[np.int64],
         dz: NDArray[np.float64], scheme: tuple, moves: NDArray[np.float64],
         w0: NDArray[np.float64], wp: NDArray[np.float64], wm: NDArray[np.float64],
         wb: NDArray[np.float64], sc: NDArray[np.float64], sr: NDArray[np.float64],
         rx: NDArray[np.float64], rw: NDArray[np.float64], es: NDArray[np.float64],
         out: NDArray[np.float64]) -> None:
    """Add the premium parts to row i of out (European parts already there); ``sc`` scratch
    (_N_SCRATCH, points).  Table slots[i, 0] of ``hz`` (nv0 of its vol nodes used) and slope
    table slots[i, 1] of ``dz`` (nv1)."""
    si, ki, ti, ri, qi, v, c = s[i], k[i], t[i], r[i], q[i], vol[i], cp[i]
    j0 = slots[i, 0]
    nv = nv0[j0]
    a = math.log(vlo[j0])
    b = math.log(vhi[j0])
    xc = (2.0 * math.log(v) - a - b) / (b - a)
    _weights(xc, nv, w0)
    np_ = scheme[4].shape[0]
    put = c < 0.0
    sp = si if put else ki
    kp = ki if put else si
    rp = ri if put else qi
    qp = qi if put else ri
    x = math.log(sp / kp)
    ln_xk = lnxk(rp, qp)
    lnb_now = ln_xk - _sh(hz, j0, w0[:nv], np_)
    _mix(hz, j0, w0[:nv], sc[0, :np_], True)
    kind = _plain_row(si, ki, ti, ri, qi, v, c)
    if kind == 0:
        if x <= lnb_now:  # exercise now: the intrinsic value and its greeks
            out[0, i] = kp - sp
            out[1, i] = c
            for g in range(2, 10):
                out[g, i] = 0.0
        else:
            _weights(xc + _DX, nv, wp)
            _weights(xc - _DX, nv, wm)
            js = slots[i, 1]
            sa = math.log(svlo[js])
            sb = math.log(svhi[js])
            ns = nv1[js]
            _weights((2.0 * math.log(v) - sa - sb) / (sb - sa), ns, wb)
            cx = 2.0 / ((b - a) * v)  # dX/dv of the Chebyshev vol coordinate
            _mix(hz, j0, wp[:nv], sc[1, :np_], True)
            _mix(hz, j0, wm[:nv], sc[2, :np_], True)
            _mix(dz[:, :, :np_], js, wb[:ns], sc[3, :np_], False)
            _mix(dz[:, :, np_:], js, wb[:ns], sc[4, :np_], False)
            _premium_parts(x, ln_xk, lnb_now, v, cx, rp, qp, ti, scheme[4], scheme[5], sc)
            for g in range(_N_PARTS):
                es[g] = 0.0
            _add_parts(sc, np_, _N_PARTS, 1.0, es)
            e0 = es[0]
            if x - lnb_now < _NEAR * v * math.sqrt(ti):
                # near the boundary: the spike at sqrt(t) ~ (x - ln B)/vol (module docstring)
                sq = (ln_xk - lnb_now, _sh(hz, j0, wp[:nv], np_), _sh(hz, j0, wm[:nv], np_),
                      sc[3, 0], sc[4, 0])  # today's boundary; slopes at the first point
                zb = 0.5 * math.sqrt(ti) * (scheme[4][_PB] + 1.0)
                beta = (sq[0] - sc[0, _PB]) / (zb * zb)  # d ln B/dt (elapsed) today
                _model(sq, beta, scheme[4], ti, sr)
                _premium_parts(x, ln_xk, lnb_now, v, cx, rp, qp, ti, scheme[4], scheme[5], sr)
                _add_parts(sr, np_, _N_PARTS, -1.0, es)
                nr = _near_rule((x - lnb_now) / v, math.sqrt(ti), rx, rw)
                _model(sq, beta, rx[:nr], ti, sr)
                _premium_parts(x, ln_xk, lnb_now, v, cx, rp, qp, ti, rx[:nr], rw[:nr], sr)
                _add_parts(sr, nr, _N_PARTS, 1.0, es)
                es[0] = e0  # the price as the tables' and the slides' (``premium_sum``)
            e, e_x, e_xx, e_v, e_vv, e_xv, e_r, e_q, e_t, ex_t = (
                es[0], es[1], es[2], es[3], es[4], es[5], es[6], es[7], es[8], es[9])
            u_T = v * math.sqrt(ti)
            f_T, fx_T, _, _ = _time_parts(x - lnb_now + (rp - qp) * ti, ti, u_T, rp, qp,
                                          math.exp(x))
            e_t += f_T
            ex_t += fx_T
            if put:
                out[1, i] += kp * e_x / sp
                out[2, i] += kp * (e_xx - e_x) / (sp * sp)
                out[5, i] += kp * e_xv / sp / 100.0
                out[7, i] += kp * e_r / 100.0
                out[8, i] += kp * e_q / 100.0
                out[9, i] -= kp * ex_t / sp / _DAYS
            else:
                out[1, i] += e - e_x
                out[2, i] += (e_xx - e_x) / kp
                out[5, i] += (e_v - e_xv) / 100.0
                out[7, i] += kp * e_q / 100.0
                out[8, i] += kp * e_r / 100.0
                out[9, i] -= (e_t - ex_t) / _DAYS
            out[3, i] -= kp * e_t / _DAYS
            out[4, i] += kp * e_v / 100.0
            out[6, i] += kp * e_vv / 10000.0
            out[0, i] = max(max(out[0, i], 0.0) + kp * e, kp - sp)
    p0 = out[0, i]
    for m in range(moves.shape[0]):
        s2 = si * (1.0 + moves[m])
        out[10 + m, i] = _am_value(s2, ki, ti, ri, qi, v, c, lnb_now, sc[0, :np_], scheme,
                                   sc[_PS:_NW]) - p0


@njit(**_PJIT)
def _rows_par(s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
              r: NDArray[np.float64], q: NDArray[np.float64], vol: NDArray[np.float64],
              cp: NDArray[np.float64], idx: NDArray[np.int64], slots: NDArray[np.int64],
              vlo: NDArray[np.float64], vhi: NDArray[np.float64], nv0: NDArray[np.int64],
              hz: NDArray[np.float64], svlo: NDArray[np.float64], svhi: NDArray[np.float64],
              nv1: NDArray[np.int64], dz: NDArray[np.float64], scheme: tuple,
              moves: NDArray[np.float64], n_chunks: int, out: NDArray[np.float64]) -> None:
    n = idx.shape[0]
    for ch in prange(n_chunks):
        nv = hz.shape[1]
        w0 = np.empty(nv)
        wp = np.empty(nv)
        wm = np.empty(nv)
        wb = np.empty(dz.shape[1])
        sc = np.empty((_N_SCRATCH, scheme[4].shape[0]))
        sr = np.empty((_N_SCRATCH, max(scheme[4].shape[0], _NEAR_MAX)))
        rx = np.empty(_NEAR_MAX)
        rw = np.empty(_NEAR_MAX)
        es = np.empty(_N_PARTS)
        for m in range(n * ch // n_chunks, n * (ch + 1) // n_chunks):
            _row(idx[m], s, k, t, r, q, vol, cp, slots, vlo, vhi, nv0, hz, svlo, svhi, nv1, dz,
                 scheme, moves, w0, wp, wm, wb, sc, sr, rx, rw, es, out)


@njit(**_JIT)
def _rows_serial(s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
                 r: NDArray[np.float64], q: NDArray[np.float64], vol: NDArray[np.float64],
                 cp: NDArray[np.float64], idx: NDArray[np.int64], slots: NDArray[np.int64],
                 vlo: NDArray[np.float64], vhi: NDArray[np.float64], nv0: NDArray[np.int64],
                 hz: NDArray[np.float64], svlo: NDArray[np.float64], svhi: NDArray[np.float64],
                 nv1: NDArray[np.int64], dz: NDArray[np.float64], scheme: tuple,
                 moves: NDArray[np.float64], out: NDArray[np.float64]) -> None:
    nv = hz.shape[1]
    w0 = np.empty(nv)
    wp = np.empty(nv)
    wm = np.empty(nv)
    wb = np.empty(dz.shape[1])
    sc = np.empty((_N_SCRATCH, scheme[4].shape[0]))
    sr = np.empty((_N_SCRATCH, max(scheme[4].shape[0], _NEAR_MAX)))
    rx = np.empty(_NEAR_MAX)
    rw = np.empty(_NEAR_MAX)
    es = np.empty(_N_PARTS)
    for m in range(idx.shape[0]):
        _row(idx[m], s, k, t, r, q, vol, cp, slots, vlo, vhi, nv0, hz, svlo, svhi, nv1, dz,
             scheme, moves, w0, wp, wm, wb, sc, sr, rx, rw, es, out)


@njit(**_JIT)
def _kinds(s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
           r: NDArray[np.float64], q: NDArray[np.float64], vol: NDArray[np.float64],
           cp: NDArray[np.float64], out: NDArray[np.int8]) -> None:
    for i in range(s.shape[0]):
        out[i] = _plain_row(s[i], k[i], t[i], r[i], q[i], vol[i], cp[i]) if (
            cp[i] == 1.0 or cp[i] == -1.0) else 2


_PAR_ROWS = 1024


def american_rows(tables: BoundaryTables, s: NDArray[np.float64], k: NDArray[np.float64],
                  t: NDArray[np.float64], r: NDArray[np.float64], q: NDArray[np.float64],
                  vol: NDArray[np.float64], cp: NDArray[np.float64], moves: tuple[float, ...]
                  ) -> NDArray[np.float64]:
    """(10 + len(moves), n): ALO American price, the nine greeks of ``_black.GREEK_KEYS`` and
    the slides, per row (float64 1-D inputs of one length; s the escrowed spot, q the carry
    yield), over ``tables`` (the same tables and model as ``tables.prices``)."""
    n = len(s)
    mv = np.ascontiguousarray(moves, dtype=np.float64)
    out = np.full((10 + len(mv), n), np.nan)
    if n == 0:
        return out
    euro_rows_kernel(s, k, t, r, q, vol, cp, False, mv, out)
    kinds = np.empty(n, np.int8)
    _kinds(s, k, t, r, q, vol, cp, kinds)
    put = cp < 0.0
    rp = np.where(put, r, q)
    qp = np.where(put, q, r)
    with np.errstate(all="ignore"):
        ok = (rp > 0.0) & (vol > 0.0) & (t > 0.0) & np.isfinite(vol) & (s > 0) & (k > 0) & (kinds < 2)
    idx = np.flatnonzero(ok)
    slots = np.full((n, 2), -1, np.int64)
    slopes = tables.slopes
    if slopes is None:
        slopes = tables.slopes = BoundarySlopes(max_tables=tables.max_tables,
                                                min_rows=tables.min_rows)
    least = min(tables.min_rows, MIN_ROWS)
    slot, hz, vlo, vhi, nv0 = tables.assign(t[idx], rp[idx], qp[idx], vol[idx], least)
    slots[idx, 0] = slot
    # rows whose premium counts need the slope tables too (any number of rows: a row's own
    # one-node slope table costs what a lone row's does)
    full = idx[(kinds[idx] == 0) & (slot >= 0)]
    slot, dz, svlo, svhi, nv1 = slopes.assign(t[full], rp[full], qp[full], vol[full], 1)
    slots[full, 1] = slot
    good = ok & (slots[:, 0] >= 0) & ((kinds != 0) | (slots[:, 1] >= 0))
    tab_rows = np.flatnonzero(good)
    args = (slots, vlo, vhi, nv0, hz, svlo, svhi, nv1, dz, DEFAULT_SCHEME, mv)
    if len(tab_rows) >= _PAR_ROWS and parallel_enabled():
        chunks = max(1, min(4 * numba.get_num_threads(), len(tab_rows) // 64))
        _rows_par(s, k, t, r, q, vol, cp, tab_rows, *args, chunks, out)
    elif len(tab_rows):
        _rows_serial(s, k, t, r, q, vol, cp, tab_rows, *args, out)
    lone = np.flatnonzero(~good & ok & (kinds == 0))
    if len(lone):
        _lone_rows(s, k, t, r, q, vol, cp, lone, rp, qp, mv, out)
    _without_table(s, k, t, r, q, vol, cp, mv, np.flatnonzero(~good & (kinds == 2)),
                   np.flatnonzero(~good & (kinds == 1)), out)
    return out


_LONE_EPS = 0.01
"""Half-width in ln(vol) of a lone row's own 3-node boundary table."""


def _lone_rows(s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
               r: NDArray[np.float64], q: NDArray[np.float64], vol: NDArray[np.float64],
               cp: NDArray[np.float64], lone: NDArray[np.int64], rp: NDArray[np.float64],
               qp: NDArray[np.float64], mv: NDArray[np.float64], out: NDArray[np.float64]) -> None:
    """Rows with no shared table (a Tick's few rows of an expiry): each gets its own tables,
    3 vol nodes at vol * exp(-+0.01) for the base (the vol derivatives) and a one-node slope
    table at the row's vol (3 boundaries): 6 boundaries a row (bump greeks of row-by-row ALO
    take 25), then the same kernel as the shared tables."""
    m = len(lone)
    j = np.arange(m)
    tt, rr, qq = t[lone], rp[lone], qp[lone]
    vlo = vol[lone] * math.exp(-_LONE_EPS)
    vhi = vol[lone] * math.exp(_LONE_EPS)
    nv0 = np.full(m, 3, np.int64)
    nv1 = np.ones(m, np.int64)
    hz = build_tables(False, rr, qq, tt, vlo, vhi, nv0, 3)
    dz = build_tables(True, rr, qq, tt, vlo, vhi, nv1, 1)
    slots = np.full((len(s), 2), -1, np.int64)
    slots[lone] = j[:, None]
    _rows_serial(s, k, t, r, q, vol, cp, lone, slots, vlo, vhi, nv0, hz, vlo, vhi, nv1, dz,
                 DEFAULT_SCHEME, mv, out)


def _without_table(s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
                   r: NDArray[np.float64], q: NDArray[np.float64], vol: NDArray[np.float64],
                   cp: NDArray[np.float64], mv: NDArray[np.float64], full: NDArray[np.int64],
                   plain: NDArray[np.int64], out: NDArray[np.float64]) -> None:
    """Rows without a table: bump greeks of row-by-row ALO where the premium counts; rows with
    no premium keep their European price and greeks, slides repriced by ALO where the moved
    spot has a premium."""
    if len(full):
        sub = np.empty((out.shape[0], len(full)))
        fd_greeks_kernel(0, s[full], k[full], t[full], r[full], q[full], vol[full], cp[full], mv,
                         DEFAULT_SCHEME, _EMPTY, _EMPTY, FD_GRID[0], FD_GRID[1], sub)
        out[:, full] = sub
    for m, move in enumerate(mv):
        if not len(plain):
            break
        s2 = s[plain] * (1.0 + move)
        kinds = np.empty(len(plain), np.int8)
        _kinds(s2, k[plain], t[plain], r[plain], q[plain], vol[plain], cp[plain], kinds)
        sel = plain[kinds != 1]
        if len(sel):
            am = np.empty(len(sel))
            amer_price_kernel(s[sel] * (1.0 + move), k[sel], t[sel], r[sel], q[sel], vol[sel],
                              cp[sel], DEFAULT_SCHEME, am)
            out[10 + m, sel] = am - out[0, sel]
