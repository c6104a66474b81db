"""Discrete cash dividends: escrowed-spot European and a Crank-Nicolson FD American engine.

European (escrowed-dividend model, as QuantLib 1.44 AnalyticDividendEuropeanEngine; the API
uses S* = S - sum_i D_i exp(-(r-q) t_i) over ex-times 0 < t_i <= t_years), then BSM on S*.

American: finite differences in x = ln S on a uniform grid, Crank-Nicolson in time to expiry
(with two Rannacher implicit half-steps to damp the payoff kink), exercise by projection
V = max(V, payoff) after every step, and the dividend jump condition V(S, t_ex-) = V(S - D,
t_ex+) applied by cubic interpolation at each ex-date, followed by the exercise check -- so
early exercise just before an ex-date (calls) is captured.  This is the spot-drop model used by
QuantLib's FdBlackScholesVanillaEngine with a dividend schedule.  Units as elsewhere: t_years
Act/365, ex-times in years from now, amounts in currency per share, r/q continuous.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._jit import JitOptions

__all__ = ["escrowed_spot", "fd_american_price1", "fd_price_kernel"]

_JIT: JitOptions = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}
_IJIT: JitOptions = {**_JIT, "inline": "always"}


@njit(**_JIT)
def escrowed_spot(s: float, t_years: float, r: float, ex_t: np.ndarray,
                  amt: np.ndarray) -> tuple:
    """(S - PV(dividends), PV, sum t_i*PV_i) for dividends with 0 < t_i <= t_years."""
    pv = 0.0
    tpv = 0.0
    for j in range(ex_t.shape[0]):
        if 0.0 < ex_t[j] <= t_years:
            d = amt[j] * math.exp(-r * ex_t[j])
            pv += d
            tpv += ex_t[j] * d
    return s - pv, pv, tpv


@njit(**_IJIT)
def _payoff(sx: float, k: float, cp: float) -> float:
    return max(cp * (sx - k), 0.0)


@njit(**_JIT)
def _interp_cubic(xs: np.ndarray, v: np.ndarray, x: float) -> float:
    """Cubic Lagrange interpolation on a uniform grid (linear extrapolation clamp at ends)."""
    n = xs.shape[0]
    dx = xs[1] - xs[0]
    u = (x - xs[0]) / dx
    i = math.floor(u)
    if i < 1:
        i = 1
    if i > n - 3:
        i = n - 3
    t = u - i
    v0, v1, v2, v3 = v[i - 1], v[i], v[i + 1], v[i + 2]
    return (v0 * (-t * (t - 1.0) * (t - 2.0) / 6.0) + v1 * ((t + 1.0) * (t - 1.0) * (t - 2.0) / 2.0)
            + v2 * (-(t + 1.0) * t * (t - 2.0) / 2.0) + v3 * ((t + 1.0) * t * (t - 1.0) / 6.0))


@njit(**_JIT)
def _solve_tridiag(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray,
                   cp_: np.ndarray, dp_: np.ndarray, out: np.ndarray) -> None:
    n = d.shape[0]
    cp_[0] = c[0] / b[0]
    dp_[0] = d[0] / b[0]
    for i in range(1, n):
        m = b[i] - a[i] * cp_[i - 1]
        cp_[i] = c[i] / m
        dp_[i] = (d[i] - a[i] * dp_[i - 1]) / m
    out[n - 1] = dp_[n - 1]
    for i in range(n - 2, -1, -1):
        out[i] = dp_[i] - cp_[i] * out[i + 1]


@njit(**_JIT)
def fd_american_price1(s: float, k: float, t_years: float, r: float, q: float, vol: float,
                       cp: float, ex_t: np.ndarray, amt: np.ndarray, american: bool,
                       n_x: int, n_t: int) -> float:
    """FD price with cash dividends (american=False gives the European spot-drop value).

    Tested: test_dividends.py::test_american_cash_dividends_match_quantlib_fd.
    """
    if not (s > 0.0 and k > 0.0 and t_years >= 0.0 and vol >= 0.0 and math.isfinite(s)
            and math.isfinite(k) and math.isfinite(t_years) and math.isfinite(vol)
            and math.isfinite(r) and math.isfinite(q) and (cp == 1.0 or cp == -1.0)):
        return math.nan
    if t_years <= 0.0:
        return _payoff(s, k, cp)
    vol = max(vol, 1e-4)
    sd = vol * math.sqrt(t_years)
    divsum = 0.0
    for j in range(ex_t.shape[0]):
        if 0.0 < ex_t[j] <= t_years:
            divsum += amt[j]
    x0 = math.log(s)
    half_w = max(6.0 * sd, 0.25) + abs(math.log(k / s)) + math.log(s / max(s - divsum, 0.05 * s))
    n = n_x if n_x % 2 == 1 else n_x + 1
    xs = np.empty(n)
    dx = 2.0 * half_w / (n - 1)
    for i in range(n):
        xs[i] = x0 - half_w + i * dx
    sx = np.exp(xs)
    v = np.empty(n)
    for i in range(n):
        v[i] = _payoff(sx[i], k, cp)
    # Operator L V = a V_xx + b V_x - r V.
    aa = 0.5 * vol * vol
    bb = r - q - aa
    lo = aa / (dx * dx) - bb / (2.0 * dx)
    di = -2.0 * aa / (dx * dx) - r
    up = aa / (dx * dx) + bb / (2.0 * dx)
    # Event times in time-to-expiry: tau_d = T - t_ex, processed in increasing tau.
    nd = 0
    for j in range(ex_t.shape[0]):
        if 0.0 < ex_t[j] <= t_years:
            nd += 1
    ev_tau = np.empty(nd)
    ev_amt = np.empty(nd)
    m = 0
    for j in range(ex_t.shape[0]):
        if 0.0 < ex_t[j] <= t_years:
            ev_tau[m] = t_years - ex_t[j]
            ev_amt[m] = amt[j]
            m += 1
    order = np.argsort(ev_tau)
    ev_tau = ev_tau[order]
    ev_amt = ev_amt[order]
    a = np.empty(n)
    b = np.empty(n)
    c = np.empty(n)
    rhs = np.empty(n)
    w1 = np.empty(n)
    w2 = np.empty(n)
    vn = np.empty(n)
    tau = 0.0
    ie = 0
    rannacher = 4
    dt_nom = t_years / n_t
    while tau < t_years * (1.0 - 1e-14):
        nxt = t_years
        if ie < nd and ev_tau[ie] < nxt:
            nxt = ev_tau[ie]
        seg = nxt - tau
        steps = max(1, math.ceil(seg / dt_nom - 1e-9))
        dt = seg / steps
        for _ in range(steps):
            if rannacher > 0:
                theta = 1.0
                h = 0.5 * dt
                reps = 2
                rannacher -= 2
            else:
                theta = 0.5
                h = dt
                reps = 1
            for _rep in range(reps):
                tau_new = tau + h
                for i in range(1, n - 1):
                    expl = lo * v[i - 1] + di * v[i] + up * v[i + 1]
                    rhs[i] = v[i] + (1.0 - theta) * h * expl
                    a[i] = -theta * h * lo
                    b[i] = 1.0 - theta * h * di
                    c[i] = -theta * h * up
                # Dirichlet boundaries: deep in/out of the money values.
                if cp > 0.0:
                    vlo = 0.0
                    vhi = sx[n - 1] - k if american else sx[n - 1] * math.exp(
                        -q * tau_new) - k * math.exp(-r * tau_new)
                else:
                    vlo = k - sx[0] if american else k * math.exp(-r * tau_new) - sx[0] * math.exp(
                        -q * tau_new)
                    vhi = 0.0
                a[0] = 0.0
                b[0] = 1.0
                c[0] = 0.0
                rhs[0] = vlo
                a[n - 1] = 0.0
                b[n - 1] = 1.0
                c[n - 1] = 0.0
                rhs[n - 1] = max(vhi, 0.0)
                _solve_tridiag(a, b, c, rhs, w1, w2, vn)
                for i in range(n):
                    v[i] = vn[i]
                    if american:
                        v[i] = max(v[i], _payoff(sx[i], k, cp))
                tau = tau_new
        tau = nxt
        if ie < nd and abs(ev_tau[ie] - tau) <= 1e-14 * t_years + 1e-300:
            # Crossing an ex-date backwards in calendar time: V(S, t-) = V(S - D, t+).
            while ie < nd and abs(ev_tau[ie] - tau) <= 1e-14 * t_years + 1e-300:
                dv = ev_amt[ie]
                for i in range(n):
                    sd_ = sx[i] - dv
                    if sd_ <= sx[0]:
                        vn[i] = v[0] if sd_ > 0.0 else _payoff(0.0, k, cp)
                    else:
                        vn[i] = _interp_cubic(xs, v, math.log(sd_))
                for i in range(n):
                    v[i] = vn[i]
                    if american:
                        v[i] = max(v[i], _payoff(sx[i], k, cp))
                ie += 1
            rannacher = 2
    return _interp_cubic(xs, v, x0)


@njit(**_JIT)
def fd_price_kernel(s: np.ndarray, k: np.ndarray, t: np.ndarray, r: np.ndarray, q: np.ndarray,
                    vol: np.ndarray, cp: np.ndarray, ex_t: np.ndarray, amt: np.ndarray,
                    american: bool, n_x: int, n_t: int, out: np.ndarray) -> None:
    """FD prices per row, dividends shared by all rows.  Tested: test_dividends.py."""
    for i in range(s.shape[0]):
        out[i] = fd_american_price1(s[i], k[i], t[i], r[i], q[i], vol[i], cp[i], ex_t, amt,
                                    american, n_x, n_t)
