"""American prices of whole expiries: one ALO exercise boundary per (expiry, side, vol node).

The ALO boundary of a put does not depend on the spot or the strike (it scales with the
strike), only on (r, q, vol, t).  Within one expiry group (same t, r, q) the rows differ by
strike and vol, so the boundary's Chebyshev coefficients are computed at ``n_vol`` Chebyshev
nodes in ln(vol) spanning the group's vols and interpolated (barycentric) at each row's vol;
each row then only costs the premium integral (``put_from_boundary``).  Calls use put-call
symmetry C(S, K, r, q) = P(K, S, q, r), i.e. a boundary of their own per group.  A side with
no more rows than ``n_vol`` is priced row by row (``amer_price1``), so small groups cost no
more than before.  Error of the interpolation: see tests/analytics/test_american_grouped.py
(below 1e-6 per 100 of strike against row-by-row ALO on the test grid).

Units as in ``_american``: t_years Act/365, r/q continuous, vol annualised, cp +1/-1, prices
per share.  Rows of a group must share t_years, r and q (only the first row's are read).
"""

from __future__ import annotations

import math
import threading

import numba
import numpy as np
from numba import njit, prange
from numpy.typing import ArrayLike, NDArray

from ._american import (
    PREMIUM_ROWS,
    STEEP_BAND,
    _cheb_eval,
    amer_price1,
    amer_price_kernel,
    premium_sum,
    put_boundary,
    put_from_boundary,
)
from ._api import DEFAULT_SCHEME
from ._black import euro_price1
from ._jit import JitOptions
from ._normal import norm_cdf
from ._parallel import parallel_enabled

__all__ = ["EEP_TOL", "MIN_TABLE_ROWS", "N_VOL", "BoundaryTables", "amer_grouped_kernel",
           "amer_grouped_prices", "american_prices", "build_tables", "lnxk", "unique_keys"]

_JIT: JitOptions = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}
_PJIT: JitOptions = {**_JIT, "parallel": True}
_IJIT: JitOptions = {**_JIT, "inline": "always"}
N_VOL = 12
"""Vol nodes per (group, side) boundary table of ``amer_grouped_prices``; the most of a
``BoundaryTables`` table."""
MIN_TABLE_ROWS = N_VOL + 1
"""Rows of a new vol range that get a ``BoundaryTables`` table (fewer: row by row)."""
EEP_TOL = 1e-10
"""Rows whose early-exercise premium is provably below this fraction of the strike are priced
European (out-of-the-money short-dated puts, mostly)."""


@njit(**_JIT)
def _plain_row(s: float, k: float, t: float, r: float, q: float, v: float, cp: float) -> int:
    """0: price by the table; 1: European (no early exercise); 2: row by row (edge cases)."""
    if not (s > 0.0 and k > 0.0 and t > 0.0 and v > 0.0 and math.isfinite(s) and math.isfinite(k)
            and math.isfinite(t) and math.isfinite(v) and math.isfinite(r) and math.isfinite(q)):
        return 2
    rr = r if cp < 0.0 else q  # the rate of the (symmetric) put
    qq = q if cp < 0.0 else r
    if rr <= 0.0 and rr <= qq:
        return 1
    if rr <= 0.0:
        return 2
    if rr * t < EEP_TOL:  # EEP <= r K T
        return 1
    # Upper bound of the premium: EEP <= r K int_0^T P(S_u < K) du <= r K T max_u N(f(u)),
    # f(u) = (ln(K/S) - mu u) / (vol sqrt(u)) in put terms; negligible -> European.
    sp = s if cp < 0.0 else k
    kp = k if cp < 0.0 else s
    a = math.log(kp / sp)
    if a < 0.0:
        mu = rr - qq - 0.5 * v * v
        u = t if mu <= 0.0 else min(t, -a / mu)
        if rr * kp * t * norm_cdf((a - mu * u) / (v * math.sqrt(u))) < EEP_TOL * kp:
            return 1
    return 0


@njit(**_JIT)
def _side(lo: int, hi: int, side: float, s: NDArray[np.float64], k: NDArray[np.float64],
          t: NDArray[np.float64], r: NDArray[np.float64], q: NDArray[np.float64],
          vol: NDArray[np.float64], cp: NDArray[np.float64], scheme: tuple, n_vol: int,
          out: NDArray[np.float64]) -> None:
    tt, rr0, qq0 = t[lo], r[lo], q[lo]
    rp = rr0 if side < 0.0 else qq0  # put-equivalent rate and yield
    qp = qq0 if side < 0.0 else rr0
    m = 0
    vmin = math.inf
    vmax = 0.0
    for i in range(lo, hi):
        if cp[i] != side:
            continue
        kind = _plain_row(s[i], k[i], t[i], r[i], q[i], vol[i], cp[i])
        if kind == 1:
            out[i] = max(0.0, euro_price1(s[i], k[i], t[i], r[i], q[i], vol[i], cp[i]))
        elif kind == 2 or t[i] != tt or r[i] != rr0 or q[i] != qq0:
            out[i] = amer_price1(s[i], k[i], t[i], r[i], q[i], vol[i], cp[i], scheme)
        else:
            m += 1
            vmin = min(vmin, vol[i])
            vmax = max(vmax, vol[i])
    if m == 0:
        return
    nn = scheme[0] + 1
    if m <= n_vol:
        c = np.zeros(nn)
        for i in range(lo, hi):
            if cp[i] == side and _plain_row(s[i], k[i], t[i], r[i], q[i], vol[i], cp[i]) == 0 \
                    and t[i] == tt and r[i] == rr0 and q[i] == qq0:
                put_boundary(rp, qp, vol[i], tt, scheme, c)
                if side < 0.0:
                    out[i] = put_from_boundary(s[i], k[i], tt, rp, qp, vol[i], c, scheme)
                else:
                    out[i] = put_from_boundary(k[i], s[i], tt, rp, qp, vol[i], c, scheme)
        return
    a = math.log(vmin)
    b = math.log(vmax)
    nv = n_vol if b - a > 1e-12 else 1
    tab = np.zeros((nv, nn))
    xs = np.empty(nv)
    wts = np.empty(nv)
    for j in range(nv):
        x = math.cos(j * math.pi / (nv - 1)) if nv > 1 else 0.0
        xs[j] = x
        wts[j] = (-1.0) ** j * (0.5 if (j == 0 or j == nv - 1) else 1.0)
        put_boundary(rp, qp, math.exp(0.5 * (a + b) + 0.5 * (b - a) * x), tt, scheme, tab[j])
    c = np.empty(nn)
    for i in range(lo, hi):
        if not (cp[i] == side and _plain_row(s[i], k[i], t[i], r[i], q[i], vol[i], cp[i]) == 0
                and t[i] == tt and r[i] == rr0 and q[i] == qq0):
            continue
        if nv == 1:
            c[:] = tab[0]
        else:
            x = (2.0 * math.log(vol[i]) - a - b) / (b - a)
            hit = -1
            for j in range(nv):
                if x == xs[j]:
                    hit = j
            if hit >= 0:
                c[:] = tab[hit]
            else:
                c[:] = 0.0
                den = 0.0
                for j in range(nv):
                    w = wts[j] / (x - xs[j])
                    den += w
                    for u in range(nn):
                        c[u] += w * tab[j, u]
                for u in range(nn):
                    c[u] /= den
        if side < 0.0:
            out[i] = put_from_boundary(s[i], k[i], tt, rp, qp, vol[i], c, scheme)
        else:
            out[i] = put_from_boundary(k[i], s[i], tt, rp, qp, vol[i], c, scheme)


@njit(**_JIT)
def _group(g: int, s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
           r: NDArray[np.float64], q: NDArray[np.float64], vol: NDArray[np.float64],
           cp: NDArray[np.float64], offsets: NDArray[np.int64], scheme: tuple, n_vol: int,
           out: NDArray[np.float64]) -> None:
    lo, hi = offsets[g], offsets[g + 1]
    for i in range(lo, hi):
        if not (cp[i] == 1.0 or cp[i] == -1.0):
            out[i] = math.nan
    _side(lo, hi, -1.0, s, k, t, r, q, vol, cp, scheme, n_vol, out)
    _side(lo, hi, 1.0, s, k, t, r, q, vol, cp, scheme, n_vol, out)


@njit(**_PJIT)
def amer_grouped_kernel(s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
                        r: NDArray[np.float64], q: NDArray[np.float64], vol: NDArray[np.float64],
                        cp: NDArray[np.float64], offsets: NDArray[np.int64], scheme: tuple,
                        n_vol: int, out: NDArray[np.float64]) -> None:
    """American price per row, groups [offsets[g], offsets[g+1]) sharing (t, r, q)."""
    for g in prange(offsets.shape[0] - 1):
        _group(g, s, k, t, r, q, vol, cp, offsets, scheme, n_vol, out)


@njit(**_JIT)
def _grouped_serial(s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
                    r: NDArray[np.float64], q: NDArray[np.float64], vol: NDArray[np.float64],
                    cp: NDArray[np.float64], offsets: NDArray[np.int64], scheme: tuple,
                    n_vol: int, out: NDArray[np.float64]) -> None:
    for g in range(offsets.shape[0] - 1):
        _group(g, s, k, t, r, q, vol, cp, offsets, scheme, n_vol, out)


def amer_grouped_prices(s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
                        r: NDArray[np.float64], q: NDArray[np.float64], vol: NDArray[np.float64],
                        cp: NDArray[np.float64], offsets: NDArray[np.int64], scheme: tuple,
                        n_vol: int = N_VOL) -> NDArray[np.float64]:
    """American prices of rows grouped by expiry (``offsets``: group starts and the end)."""
    ss, kk, tt, rr, qq, vv, cc = (np.ascontiguousarray(x, dtype=np.float64)
                                  for x in (s, k, t, r, q, vol, cp))
    off = np.ascontiguousarray(offsets, dtype=np.int64)
    out = np.full(len(ss), np.nan)
    if len(out) == 0:
        return out
    kernel = amer_grouped_kernel if len(off) > 2 and numba.get_num_threads() > 1 else _grouped_serial
    kernel(ss, kk, tt, rr, qq, vv, cc, off, scheme, n_vol, out)
    return out


def american_prices(s: ArrayLike, k: ArrayLike, t: ArrayLike, r: ArrayLike, q: ArrayLike,
                    vol: ArrayLike, cp: ArrayLike, group: ArrayLike) -> NDArray[np.float64]:
    """ALO American value per row (per share; NaN on invalid input), rows of one ``group`` id
    sharing (t, r, q) -- e.g. the expiry index -- priced over one exercise-boundary table per
    group and side (1-D result; arguments broadcast).  Any row order.  Accuracy: row-by-row
    ALO (``price(..., "american")``) within ~1e-8 per 100 of strike.
    Tested: tests/analytics/test_american_grouped.py."""
    *vals, g = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (s, k, t, r, q, vol, cp)),
                                   np.asarray(group, dtype=np.int64))
    g = g.ravel()
    order = np.argsort(g, kind="stable")
    gs = g[order]
    cuts = np.flatnonzero(np.diff(gs)) + 1
    off = np.concatenate(([0], cuts, [len(gs)])).astype(np.int64)
    s_, k_, t_, r_, q_, v_, c_ = (x.ravel()[order] for x in vals)
    res = amer_grouped_prices(s_, k_, t_, r_, q_, v_, c_, off, DEFAULT_SCHEME)
    out = np.empty_like(res)
    out[order] = res
    return out


_HR = 1e-7
"""Rate / yield step of a slope table's one-sided differences."""


@njit(**_IJIT)
def lnxk(rp: float, qp: float) -> float:
    """ln(X/K) of a put's boundary normalisation X = K min(1, r/q)."""
    return math.log(min(1.0, rp / qp)) if qp > 0.0 else 0.0


@njit(**_JIT)
def _node(m: int, slope: bool, jt: NDArray[np.int64], ju: NDArray[np.int64],
          rp: NDArray[np.float64], qp: NDArray[np.float64], tt: NDArray[np.float64],
          vlo: NDArray[np.float64], vhi: NDArray[np.float64], nvs: NDArray[np.int64],
          scheme: tuple, out: NDArray[np.float64]) -> None:
    """Node ju[m] of table jt[m] (its nvs[j] Chebyshev-Lobatto vol nodes of [vlo_j, vhi_j] in
    ln vol) into out[j, u]: a boundary table holds H = ln(B/X)^2 of the put boundary at the
    price-integral points and at tau = T (the boundary today), all a row's premium integral
    reads; a slope table (``slope``) holds d ln B/dr at those points, then d ln B/dq, by
    one-sided differences h = min(_HR, r/100) at the node's own vol (so that the interpolation
    in vol applies to the slope, never to a difference of two interpolants)."""
    j = jt[m]
    u = ju[m]
    nv = nvs[j]
    z_pr = scheme[9]
    n = z_pr.shape[0]
    a = math.log(vlo[j])
    b = math.log(vhi[j])
    x = math.cos(u * math.pi / (nv - 1)) if nv > 1 else 0.0
    v = math.exp(0.5 * (a + b) + 0.5 * (b - a) * x)
    r0, q0, t0 = rp[j], qp[j], tt[j]
    c0 = np.zeros(scheme[0] + 1)
    put_boundary(r0, q0, v, t0, scheme, c0)
    row = out[j, u]
    if not slope:
        for i in range(n):
            row[i] = _cheb_eval(c0, z_pr[i])
        row[n] = _cheb_eval(c0, 1.0)
        return
    h = min(_HR, 0.01 * r0)
    c1 = np.zeros(scheme[0] + 1)
    c2 = np.zeros(scheme[0] + 1)
    put_boundary(r0 + h, q0, v, t0, scheme, c1)
    put_boundary(r0, q0 + h, v, t0, scheme, c2)
    l0 = lnxk(r0, q0)
    l1 = lnxk(r0 + h, q0)
    l2 = lnxk(r0, q0 + h)
    for i in range(n):
        lnb = l0 - math.sqrt(max(0.0, _cheb_eval(c0, z_pr[i])))
        row[i] = (l1 - math.sqrt(max(0.0, _cheb_eval(c1, z_pr[i]))) - lnb) / h
        row[n + i] = (l2 - math.sqrt(max(0.0, _cheb_eval(c2, z_pr[i]))) - lnb) / h


@njit(**_PJIT)
def _build_nodes(slope: bool, jt: NDArray[np.int64], ju: NDArray[np.int64],
                 rp: NDArray[np.float64], qp: NDArray[np.float64], tt: NDArray[np.float64],
                 vlo: NDArray[np.float64], vhi: NDArray[np.float64], nvs: NDArray[np.int64],
                 scheme: tuple, out: NDArray[np.float64]) -> None:
    for m in prange(jt.shape[0]):
        _node(m, slope, jt, ju, rp, qp, tt, vlo, vhi, nvs, scheme, out)


@njit(**_JIT)
def _build_nodes_serial(slope: bool, jt: NDArray[np.int64], ju: NDArray[np.int64],
                        rp: NDArray[np.float64], qp: NDArray[np.float64], tt: NDArray[np.float64],
                        vlo: NDArray[np.float64], vhi: NDArray[np.float64],
                        nvs: NDArray[np.int64], scheme: tuple, out: NDArray[np.float64]) -> None:
    for m in range(jt.shape[0]):
        _node(m, slope, jt, ju, rp, qp, tt, vlo, vhi, nvs, scheme, out)


def build_tables(slope: bool, rp: NDArray[np.float64], qp: NDArray[np.float64],
                 tt: NDArray[np.float64], vlo: NDArray[np.float64], vhi: NDArray[np.float64],
                 nvs: NDArray[np.int64], n_max: int) -> NDArray[np.float64]:
    """New boundary tables (``slope``: slope tables) of the put-equivalent (rp, qp, tt), nvs[j]
    vol nodes over [vlo_j, vhi_j], stored (tables, n_max, points + 1 / 2 points) (nodes beyond
    nvs[j] zero): every node of every table in one call (over the Numba threads when there
    are enough)."""
    npts = DEFAULT_SCHEME[4].shape[0]
    nvs = np.ascontiguousarray(nvs, np.int64)
    out = np.zeros((len(rp), n_max, 2 * npts if slope else npts + 1))
    jt = np.repeat(np.arange(len(rp), dtype=np.int64), nvs)
    ju = np.arange(len(jt), dtype=np.int64) - np.repeat(np.cumsum(nvs) - nvs, nvs)
    par = len(jt) * (120 if slope else 40) >= _PAR_ROWS and parallel_enabled()
    f = (lambda a: np.ascontiguousarray(a, dtype=np.float64))  # noqa: E731
    (_build_nodes if par else _build_nodes_serial)(slope, jt, ju, f(rp), f(qp), f(tt), f(vlo), f(vhi),
                                                   nvs, DEFAULT_SCHEME, out)
    return out


@njit(**_IJIT)
def _weights(x: float, nv: int, w: NDArray[np.float64]) -> None:
    """Barycentric weights of the Chebyshev-Lobatto nodes cos(u pi/(nv-1)) at x (one node:
    weight 1)."""
    if nv == 1:
        w[0] = 1.0
        return
    hit = -1
    for u in range(nv):
        w[u] = 0.0
        if x == math.cos(u * math.pi / (nv - 1)):
            hit = u
    if hit >= 0:
        w[hit] = 1.0
        return
    den = 0.0
    for u in range(nv):
        w[u] = (-1.0) ** u * (0.5 if (u == 0 or u == nv - 1) else 1.0) / (
            x - math.cos(u * math.pi / (nv - 1)))
        den += w[u]
    for u in range(nv):
        w[u] /= den


@njit(**_JIT)
def _eval_row(i: int, s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
              r: NDArray[np.float64], q: NDArray[np.float64], vol: NDArray[np.float64],
              cp: NDArray[np.float64], which: NDArray[np.int64], vlo: NDArray[np.float64],
              vhi: NDArray[np.float64], nvs: NDArray[np.int64], hz: NDArray[np.float64],
              scheme: tuple, w: NDArray[np.float64], scratch: NDArray[np.float64],
              out: NDArray[np.float64]) -> bool:
    """Row i's value from its table into out[i]; False (out[i] NaN) for a row the tables do not
    serve (edge cases, no table, vol outside it): the caller prices those row by row (kept out
    of this kernel, so that compiling it does not compile the row-by-row ALO too)."""
    kind = _plain_row(s[i], k[i], t[i], r[i], q[i], vol[i], cp[i]) if (
        cp[i] == 1.0 or cp[i] == -1.0) else 2
    j = which[i]
    if kind == 1:
        out[i] = max(0.0, euro_price1(s[i], k[i], t[i], r[i], q[i], vol[i], cp[i]))
        return True
    if kind == 2 or j < 0 or not (vlo[j] <= vol[i] <= vhi[j]):
        out[i] = math.nan
        return False
    nv = nvs[j]
    a = math.log(vlo[j])
    b = math.log(vhi[j])
    _weights((2.0 * math.log(vol[i]) - a - b) / (b - a), nv, w)
    put = cp[i] < 0.0
    rp = r[i] if put else q[i]
    qp = q[i] if put else r[i]
    sp = s[i] if put else k[i]
    kp = k[i] if put else s[i]
    v = vol[i]
    tt = t[i]
    px = scheme[4]
    ln_xk = lnxk(rp, qp)
    np_ = px.shape[0]
    h_now = 0.0
    for u in range(nv):
        h_now += w[u] * hz[j, u, np_]
    if math.log(sp / kp) <= ln_xk - math.sqrt(max(h_now, 0.0)):
        out[i] = kp - sp  # at or beyond today's exercise boundary: exercise now
        return True
    sh = scratch[0]
    for p in range(np_):
        sh[p] = w[0] * hz[j, 0, p]
    for u in range(1, nv):
        wu = w[u]
        for p in range(np_):
            sh[p] += wu * hz[j, u, p]
    for p in range(np_):
        sh[p] = math.sqrt(sh[p] if sh[p] > 0.0 else 0.0)
    add_on = premium_sum(math.log(sp / kp) - ln_xk, sh, tt, rp, qp, v, sp, kp, scheme, scratch[1:])
    euro = euro_price1(sp, kp, tt, rp, qp, v, -1.0)
    out[i] = max(max(euro, 0.0) + max(add_on, 0.0), kp - sp)
    return True


@njit(**_PJIT)
def _eval_rows(s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
               r: NDArray[np.float64], q: NDArray[np.float64], vol: NDArray[np.float64],
               cp: NDArray[np.float64], which: NDArray[np.int64], vlo: NDArray[np.float64],
               vhi: NDArray[np.float64], nvs: NDArray[np.int64], hz: NDArray[np.float64],
               scheme: tuple, n_chunks: int, out: NDArray[np.float64],
               served: NDArray[np.bool_]) -> None:
    n = s.shape[0]
    for ch in prange(n_chunks):
        w = np.empty(hz.shape[1])
        scratch = np.empty((1 + PREMIUM_ROWS, hz.shape[2]))
        for i in range(n * ch // n_chunks, n * (ch + 1) // n_chunks):
            served[i] = _eval_row(i, s, k, t, r, q, vol, cp, which, vlo, vhi, nvs, hz, scheme,
                                  w, scratch, out)


@njit(**_JIT)
def _eval_rows_serial(s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
                      r: NDArray[np.float64], q: NDArray[np.float64], vol: NDArray[np.float64],
                      cp: NDArray[np.float64], which: NDArray[np.int64], vlo: NDArray[np.float64],
                      vhi: NDArray[np.float64], nvs: NDArray[np.int64], hz: NDArray[np.float64],
                      scheme: tuple, out: NDArray[np.float64], served: NDArray[np.bool_]) -> None:
    w = np.empty(hz.shape[1])
    scratch = np.empty((1 + PREMIUM_ROWS, hz.shape[2]))
    for i in range(s.shape[0]):
        served[i] = _eval_row(i, s, k, t, r, q, vol, cp, which, vlo, vhi, nvs, hz, scheme, w,
                              scratch, out)


_PAR_ROWS = 2048
"""Rows (or boundary nodes x 40) below which the serial twins run: a parallel region can wait a
scheduler slice (~5 ms) for the other core when the machine is busy, more than a Tick takes."""


class BoundaryTables:
    """A bounded memo of exercise-boundary tables keyed by the put-equivalent (t, r, q) of a
    (group, side), each table serving the rows of one vol range: the range of the rows present
    when it was built (pieces of at most ``SPAN`` in ln vol), ``PAD`` beyond it each side, with
    Chebyshev nodes in ln vol sized to its width (``nodes``: price within ~5e-7 per 100 of
    strike of row-by-row ALO, tests/analytics/test_american_grouped.py).  Repeated evaluations
    at nearby vols (the passes of a de-Americanised IV, bid then ask then the surface price)
    reuse the key's tables; rows outside them get a new table of their own range.  Keys are
    exact floats, so a changed rate, yield or time builds a new table; the oldest keys are
    dropped beyond ``max_tables`` tables.  A new range with fewer than ``min_rows`` rows is
    priced row by row instead."""

    PAD = 1.25  # a table spans its rows' vols and this ratio beyond them each side
    SPAN = 0.9  # widest ln-vol range of the rows of one new table
    PER_KEY = 3  # most tables kept per key (the most recent)
    SLOPE = False  # boundary tables (True: ``BoundarySlopes``' slope tables)

    def __init__(self, max_tables: int = 50_000, n_vol: int = N_VOL, min_rows: int = MIN_TABLE_ROWS
                 ) -> None:
        from collections import OrderedDict

        self.min_rows = min_rows  # fewer rows of a new (t, r, q) range: priced row by row
        self.max_tables = max_tables
        self.n_vol = n_vol  # most vol nodes of a table (its storage)
        # per key: (vol low, vol high, nodes, table, lowest and highest vol of its rows)
        self._tabs: OrderedDict[tuple[float, float, float],
                                list[tuple[float, float, int, NDArray[np.float64], float, float]]
                                ] = OrderedDict()
        self._count = 0  # tables held
        self.built = 0  # tables built
        self.nodes_built = 0  # their vol nodes (boundaries solved)
        self.evaluated = 0  # rows that needed a boundary
        self.direct = 0  # of which priced row by row (small group or vol outside the table)
        self.slopes: BoundaryTables | None = None  # the greeks' rate/yield slope tables
        self._lock = threading.Lock()

    def nodes(self, width: NDArray[np.float64]) -> NDArray[np.int64]:
        """Vol nodes of a table spanning ``width`` in ln vol (measured: price error against
        row-by-row ALO about 5e-7 per 100 of strike at every width up to 1.35)."""
        return np.clip(np.ceil(4.5 + 5.0 * width), 3, self.n_vol).astype(np.int64)

    def steep(self) -> tuple[int, int, int]:
        """(tables held, of which with a vol node where the boundary is steep enough for the Phi
        form of the fixed point, s = (r - q) t / vol^2 > STEEP_BAND[0] at the table's lowest
        vol, of which wholly so, s >= STEEP_BAND[1] at its highest): the share of the tables
        built by the heavier scheme (``_american.steep_weight``)."""
        with self._lock:
            held = [(k[0] * (k[1] - k[2]), tab[0], tab[1]) for k, ent in self._tabs.items()
                    for tab in ent]
        some = sum(1 for a, lo, _ in held if a / (lo * lo) > STEEP_BAND[0])
        whole = sum(1 for a, _, hi in held if a / (hi * hi) >= STEEP_BAND[1])
        return len(held), some, whole

    def table_shape(self) -> tuple[int, ...]:
        """Shape of one table: (vol nodes, price-integral points + 1)."""
        return (self.n_vol, DEFAULT_SCHEME[4].shape[0] + 1)

    def assign(self, t: NDArray[np.float64], rp: NDArray[np.float64], qp: NDArray[np.float64],
               vol: NDArray[np.float64], min_rows: int | None = None
               ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64],
                          NDArray[np.float64], NDArray[np.int64]]:
        """A table per row of put-equivalent (t, rp, qp) at ``vol``: the key's memo tables whose
        range holds the vol, else new tables over the ranges of the rows left (those of a
        range with fewer than ``min_rows`` rows, default ``self.min_rows``, get none).
        Returns (slot per row, -1 for none; tables (slots, n_vol, ...); vol low; vol high;
        vol nodes)."""
        n = len(t)
        which = np.full(n, -1, np.int64)
        tabs: list[NDArray[np.float64]] = []
        lo: list[float] = []
        hi: list[float] = []
        nv: list[int] = []
        if n == 0:
            return which, *self._stacked(tabs, lo, hi, nv)
        keys, inv = unique_keys(t, rp, qp)
        kt = [(a, b, c) for a, b, c in keys.tolist()]
        with self._lock:  # (the memo is shared by the Tick path and a pass's worker thread)
            held = [self._hit(kk) for kk in kt]
        most = max(len(h) for h in held)
        if most:
            c_rng = np.full((4, len(keys), most), np.nan)  # padded range, range of its rows
            c_slot = np.full((len(keys), most), -1, np.int64)
            for g, ent in enumerate(held):
                for e, (a, b, m, tab, da, db) in enumerate(ent):
                    c_rng[:, g, e] = a, b, da, db
                    c_slot[g, e] = len(tabs)
                    tabs.append(tab)
                    lo.append(a)
                    hi.append(b)
                    nv.append(m)
            # a vol inside the range of a table's own rows takes that table (the one it was
            # built for: a repeated call gives the same values), else any whose padded range
            # holds it, the most recent first
            for pair in ((2, 3), (0, 1)):
                for e in range(most - 1, -1, -1):
                    with np.errstate(invalid="ignore"):
                        hit = ((which < 0) & (c_rng[pair[0], inv, e] <= vol)
                               & (vol <= c_rng[pair[1], inv, e]))
                    which[hit] = c_slot[inv[hit], e]
        least = self.min_rows if min_rows is None else min_rows
        with np.errstate(all="ignore"):
            rest = np.flatnonzero((which < 0) & (vol > 0.0) & (vol < np.inf))
        if len(rest):
            with np.errstate(all="ignore"):
                lv = np.log(vol)
            kmin = np.full(len(keys), np.inf)  # pieces from the key's lowest vol of all rows
            np.minimum.at(kmin, inv, np.where(np.isfinite(lv), lv, np.inf))
            self._new(keys, kt, inv[rest], lv[rest], kmin, rest, least, which, tabs, lo, hi, nv)
        return which, *self._stacked(tabs, lo, hi, nv)

    def _new(self, keys: NDArray[np.float64], kt: list[tuple[float, float, float]],
             g: NDArray[np.int64], lv: NDArray[np.float64], kmin: NDArray[np.float64],
             rows: NDArray[np.int64], least: int, which: NDArray[np.int64],
             tabs: list[NDArray[np.float64]], lo: list[float], hi: list[float], nv: list[int]
             ) -> None:
        """New tables for ``rows`` (key g, ln vol lv): pieces of SPAN in ln vol from the key's
        lowest vol ``kmin`` of all its rows (so that vols all moved by one ratio, the next pass
        of an IV solve, fall into the same pieces); a piece with ``least`` rows gets a table
        over its rows' range (appended to the lists, its rows' slots set in ``which``) and the
        memo keeps it."""
        pk, pinv = unique_keys(g.astype(np.float64), np.floor((lv - kmin[g]) / self.SPAN))
        cnt = np.bincount(pinv, minlength=len(pk))
        big = np.flatnonzero(cnt >= least)
        if not len(big):
            return
        pmin = np.full(len(pk), np.inf)
        pmax = np.full(len(pk), -np.inf)
        np.minimum.at(pmin, pinv, lv)
        np.maximum.at(pmax, pinv, lv)
        gk = pk[big, 0].astype(np.int64)
        plo = np.exp(pmin[big]) / self.PAD
        phi = np.exp(pmax[big]) * self.PAD
        pnv = self.nodes(np.log(phi / plo))
        new = build_tables(self.SLOPE, keys[gk, 1], keys[gk, 2], keys[gk, 0], plo, phi, pnv,
                           self.n_vol)
        slot = np.full(len(pk), -1, np.int64)
        slot[big] = len(tabs) + np.arange(len(big))
        got = slot[pinv] >= 0
        which[rows[got]] = slot[pinv[got]]
        tabs.extend(new)
        lo.extend(plo.tolist())
        hi.extend(phi.tolist())
        nv.extend(pnv.tolist())
        with self._lock:  # (the build itself, seconds on a pass, outside the lock)
            self.built += len(big)
            self.nodes_built += int(pnv.sum())
            for j, gg in enumerate(gk.tolist()):
                kk = kt[gg]
                ent = self._tabs.setdefault(kk, [])
                ent.append((float(plo[j]), float(phi[j]), int(pnv[j]), new[j],
                            float(np.exp(pmin[big[j]])) * (1.0 - 1e-12),
                            float(np.exp(pmax[big[j]])) * (1.0 + 1e-12)))
                self._count += 1
                if len(ent) > self.PER_KEY:
                    del ent[0]
                    self._count -= 1
                self._tabs.move_to_end(kk)
            while self._count > self.max_tables and len(self._tabs) > 1:
                self._count -= len(self._tabs.popitem(last=False)[1])

    def _stacked(self, tabs: list[NDArray[np.float64]], lo: list[float], hi: list[float],
                 nv: list[int]) -> tuple[NDArray[np.float64], NDArray[np.float64],
                                         NDArray[np.float64], NDArray[np.int64]]:
        if not tabs:
            return np.zeros((1, *self.table_shape())), np.ones(1), np.ones(1), np.ones(1, np.int64)
        return np.stack(tabs), np.array(lo), np.array(hi), np.array(nv, np.int64)

    def _hit(self, kk: tuple[float, float, float]
             ) -> list[tuple[float, float, int, NDArray[np.float64], float, float]]:
        """The memo's tables of key kk (most recently used now), [] if there is none."""
        hit = self._tabs.get(kk)
        if hit is None:
            return []
        self._tabs.move_to_end(kk)
        return list(hit)

    def prices(self, s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
               r: NDArray[np.float64], q: NDArray[np.float64], vol: NDArray[np.float64],
               cp: NDArray[np.float64]) -> NDArray[np.float64]:
        """American value per row (float64 1-D inputs of one length), as ``american_prices``."""
        n = len(s)
        out = np.full(n, np.nan)
        if n == 0:
            return out
        put = cp < 0.0
        rp = np.where(put, r, q)
        qp = np.where(put, q, r)
        with np.errstate(all="ignore"):
            needs = (rp > 0.0) & (vol > 0.0) & (t > 0.0) & np.isfinite(vol) & (s > 0) & (k > 0)
        idx = np.flatnonzero(needs)
        which = np.full(n, -1, np.int64)
        slot, tab, vlo, vhi, nvs = self.assign(t[idx], rp[idx], qp[idx], vol[idx])
        which[idx] = slot
        with self._lock:  # (a pass's workers price at once)
            self.direct += int((which[idx] < 0).sum())
            self.evaluated += len(idx)
        served = np.empty(n, np.bool_)
        if n >= _PAR_ROWS and parallel_enabled():
            chunks = max(1, min(4 * numba.get_num_threads(), n // 64))
            _eval_rows(s, k, t, r, q, vol, cp, which, vlo, vhi, nvs, tab, DEFAULT_SCHEME, chunks,
                       out, served)
        else:
            _eval_rows_serial(s, k, t, r, q, vol, cp, which, vlo, vhi, nvs, tab, DEFAULT_SCHEME,
                              out, served)
        rest = np.flatnonzero(~served)
        if len(rest):  # row by row (edge cases, no table, vol outside its table)
            sub = np.empty(len(rest))
            amer_price_kernel(s[rest], k[rest], t[rest], r[rest], q[rest], vol[rest], cp[rest],
                              DEFAULT_SCHEME, sub)
            out[rest] = sub
        return out


def unique_keys(*cols: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Unique rows of the key columns (m, len(cols)) and each input row's index into them."""
    order = np.lexsort(cols[::-1])
    new_key = np.zeros(len(order), bool)
    new_key[:1] = True
    for c in cols:
        cs = c[order]
        new_key[1:] |= np.diff(cs) != 0
    inv = np.empty(len(order), np.int64)
    inv[order] = np.cumsum(new_key) - 1
    first = order[new_key]
    return np.stack([c[first] for c in cols], axis=1), inv
