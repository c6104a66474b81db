"""American option prices by the Andersen-Lake-Offengelda spectral collocation (Numba).

Method (L. Andersen, M. Lake, D. Offengelda, "High-performance American option pricing",
J. Comp. Finance 2016), for a put; calls use put-call symmetry C(S, K, r, q) = P(K, S, q, r):
  1. QD+ (Li 2010) exercise boundary B(tau) at n+1 Chebyshev-Lobatto nodes in sqrt(tau),
     solved per node by Halley iterations;
  2. the boundary is carried as H(z) = ln(B/X)^2, X = K*min(1, r/q), interpolated by Chebyshev
     polynomials in z = 2*sqrt(tau/T) - 1;
  3. one Jacobi-Newton step then (m-1) plain steps of the smooth-pasting fixed-point equation
     B = K e^{-(r-q)tau} N/D, in one of two forms (QuantLib's names): the "phi" form FP_A
     (N, D with the normal densities; converges in few steps) where the boundary is flat, the
     "Phi" form FP_B (normal CDFs only) where it is steep, s = (r - q) tau / vol^2 above 6:
     there the phi form's iteration does not converge (a 3-year ATM put, r 8%, vol 8%,
     s = 37.7, was 1.48562 against QD+ high precision 1.42665; 6e-5 off at s 4 to 6, 5e-4 at
     s 8 to 10), the Phi form's does, in more steps and points.  Between s = 2 and 6 the two
     boundaries are blended by a smoothstep weight
     (``steep_weight``), so the boundary and every slope read from it stay continuous in
     (r, q, vol, t);
  4. price = European + early-exercise premium integral.
Quadrature: the integrals over elapsed time m in [0, tau] (fixed point) and t in [0, T] (price)
take Gauss-Legendre points after m = tau sin^2(th), th = pi (1 + y)/4 (t alike): sqrt(m) and
the boundary's coordinate sqrt(tau - m) are both smooth in y, so the rules converge spectrally (the
substitution m = tau (1 + y)^2/4 of ALO and QuantLib leaves sqrt(tau - m) singular at y = 1:
16 points were 1.6e-4 off on 2- to 4-year expiries, 8 now do better than 24 did).
Default scheme (l, m, n, p) = (8, 4, 12, 48), steep (l, m) = (16, 10) (``_api.DEFAULT_SCHEME``):
max |error| 3.1e-5 per 100 of strike against QuantLib's QdFp high-precision scheme over 9,000
random options (expiries 1 day to 4.1 years, r and q to 16%, vol 4% to 100%, moneyness +-40%;
2,684 of them with s from 4 to 2,000, a fifth with q near r), 1.2e-5 where s < 4; the scheme
before issue 16, (16, 4, 10, 48) in the phi form alone, was 0.31 off there (310 beyond 1e-4;
1.6e-4 where s < 2, 3.2e-4 where s < 4).  Fixed-point work per boundary (nodes x points x
steps): 384 where s < 2 (640 before), 1,920 where s > 6, both in the band.
Greeks (``_american_rows``: analytic derivatives of the premium sum, a graded rule near the
boundary) within 1e-4 plus 0.3% of QD+ by side-aware repricing on the same grid, steep and
near-boundary rows included; within a time value of 1e-5 of exercise second derivatives are not
resolved by QD+'s quotients and theta/vega/rho/phi hold to 5e-4 (a 1092-day call at r ~ q: rho
2.4e-4 off, the default scheme's boundary there; tests/analytics/test_american_rows.py).

Units: t_years Act/365, r/q continuous, vol annualised, cp +1 call / -1 put, prices per share.
Negative-rate double-boundary cases (r < 0 with q < r for a put) are not handled here: the
public API routes them to the finite-difference engine in _dividends.py.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._black import euro_price1
from ._jit import JitOptions
from ._normal import _INV_SQRT_2PI, norm_cdf, norm_pdf
from ._vmath import exp_half_sq, exp_v, norm_cdf_e

__all__ = ["Scheme", "amer_price1", "amer_price_kernel", "make_scheme", "put_boundary",
           "PREMIUM_ROWS", "STEEP_BAND", "exp_loop", "phi_loop", "premium_sum",
           "put_from_boundary", "steep_weight"]

_JIT: JitOptions = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}
_IJIT: JitOptions = {**_JIT, "inline": "always"}
_EPS = 2.220446049250313e-16


class Scheme(tuple):
    """(n_nodes, n_iter, fp_x, fp_w, pr_x, pr_w, ...): see ``make_scheme``."""


STEEP_BAND = (2.0, 6.0)
"""Steepness s = (r - q) t / vol^2 of a put's exercise boundary (put-equivalent r, q) over which
the boundary moves from the phi form of the fixed point (below) to the Phi form (above), blended
smoothly in between (``steep_weight``)."""


def _fp_rule(l_fp: int, z_nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """l-point Gauss-Legendre rule of the fixed-point integrals and the Chebyshev coordinate of
    the boundary at each (node, point): elapsed m = tau_i sin^2(th), th = pi (1 + y)/4, read at
    tau_i - m = tau_i cos^2(th), so z = (1 + z_i) cos(th) - 1."""
    fx, fw = np.polynomial.legendre.leggauss(l_fp)
    z_fp = (1.0 + z_nodes)[:, None] * np.cos(0.25 * math.pi * (1.0 + fx[None, :])) - 1.0
    return fx.astype(np.float64), fw.astype(np.float64), np.ascontiguousarray(z_fp)


def make_scheme(l_fp: int = 8, m_iter: int = 4, n_nodes: int = 12, p_price: int = 48,
                steep: tuple[int, int] = (16, 10)) -> tuple:
    """Build an ALO scheme tuple for the kernels.

    (l, m, n, p): fixed-point quadrature points, fixed-point iterations, collocation nodes,
    price-integral points of the phi form of the fixed point; ``steep`` = (l, m) of the Phi form
    used where the boundary is steep (``steep_weight``; same n and p, so one boundary has n+1
    Chebyshev coefficients and every table the same points whichever form built it).
    Everything that does not depend on the option is precomputed once here: the quadrature
    rules, the Chebyshev fit matrix, the collocation nodes z_i, and the Chebyshev coordinate of
    every point where the boundary is read (fixed-point integrand and price integral), which
    only depend on the nodes because the points' times scale with tau.
    Layout: (n, m, fp_x, fp_w, pr_x, pr_w, fit (n+1, n+1), z_nodes (n+1), z_fp (n+1, l),
    z_pr (p), steep m, steep fp_x, steep fp_w, steep z_fp (n+1, steep l)).
    """
    px, pw = np.polynomial.legendre.leggauss(p_price)
    n = n_nodes
    fit = np.empty((n + 1, n + 1))
    for k in range(n + 1):
        for i in range(n + 1):
            j = n - i  # node z_i = -cos(i pi/n) = cos(j pi/n)
            w = 0.5 if (j == 0 or j == n) else 1.0
            fit[k, i] = 2.0 * w * math.cos(k * j * math.pi / n) / n
    fit[0] *= 0.5
    fit[n] *= 0.5
    z_nodes = -np.cos(np.arange(n + 1) * math.pi / n)
    z_nodes[0] = -1.0
    fx, fw, z_fp = _fp_rule(l_fp, z_nodes)
    sx, sw, sz = _fp_rule(steep[0], z_nodes)
    # price integral over elapsed time t = T sin^2(th), th = pi (1 + x)/4 for the Legendre
    # nodes x: stored as the points' sqrt(t/T) = sin(th) = (px + 1)/2 and weights pw such that
    # the consumers' z = sqrt(T) (px + 1)/2, dt = pw 2 z sqrt(T)/2 hold; the boundary is read
    # at T - t: z = 2 sqrt((T - t)/T) - 1 = 2 cos(th) - 1 (smooth at both ends)
    th = 0.25 * math.pi * (1.0 + px)
    pw = 0.5 * math.pi * np.cos(th) * pw
    px = 2.0 * np.sin(th) - 1.0
    z_pr = 2.0 * np.cos(th) - 1.0
    return (n_nodes, m_iter, fx, fw, px.astype(np.float64), pw.astype(np.float64), fit, z_nodes,
            z_fp, z_pr, steep[1], sx, sw, sz)


# The branch-free _vmath functions in array loops of their own, each compiled once and called
# on a whole row of points (a vector loop inside); Numba's IR inlining of every call site of
# them into the kernels' loops made the ALO greeks kernel take ~30 s to compile.
@njit(**_JIT)
def phi_loop(x: np.ndarray, e: np.ndarray, out: np.ndarray) -> None:
    """e[i] = exp(-x[i]^2/2), out[i] = Phi(x[i]) (arrays of one length, not overlapping)."""
    for i in range(x.shape[0]):
        e[i] = exp_half_sq(x[i])
        out[i] = norm_cdf_e(x[i], e[i])


@njit(**_JIT)
def exp_loop(x: np.ndarray, out: np.ndarray) -> None:
    """out[i] = e^x[i] (arrays of one length, not overlapping)."""
    for i in range(x.shape[0]):
        out[i] = exp_v(x[i])


@njit(**_IJIT)
def _cheb_eval(c: np.ndarray, z: float) -> float:
    """Clenshaw sum of c[0..n] T_k(z) (c[0], c[n] already halved)."""
    b1 = 0.0
    b2 = 0.0
    for k in range(c.shape[0] - 1, 0, -1):
        b0 = c[k] + 2.0 * z * b1 - b2
        b2 = b1
        b1 = b0
    return c[0] + z * b1 - b2


@njit(**_IJIT)
def _cheb_fit(h: np.ndarray, fit: np.ndarray, c: np.ndarray) -> None:
    """Coefficients of the interpolant through h[i] at the nodes z_i (fit from make_scheme)."""
    n1 = h.shape[0]
    for k in range(n1):
        acc = 0.0
        for i in range(n1):
            acc += fit[k, i] * h[i]
        c[k] = acc


@njit(**_IJIT)
def _sqrt_h(c: np.ndarray, z: float) -> float:
    """sqrt(H(z)) = -ln(B/X) at Chebyshev coordinate z."""
    return math.sqrt(max(0.0, _cheb_eval(c, z)))


@njit(**_JIT)
def _qdplus_boundary(k: float, r: float, q: float, vol: float, tau: float,
                     x_max: float) -> float:
    """QD+ put exercise boundary at time to expiry tau (Li 2010), by Halley iterations."""
    s2 = vol * vol
    v = vol * math.sqrt(tau)
    dr = math.exp(-r * tau)
    dq = math.exp(-q * tau)
    omega = 2.0 * (r - q) / s2
    root = math.sqrt((omega - 1.0) ** 2 + 8.0 * r / (s2 * (1.0 - dr)))
    lam = 0.5 * (-(omega - 1.0) - root)
    lam_p = 2.0 * r / (s2 * (1.0 - dr) ** 2 * root)
    alpha = 2.0 * dr * r / (s2 * (2.0 * lam + omega - 1.0))
    beta = alpha * (1.0 / (1.0 - dr) + lam_p / (2.0 * lam + omega - 1.0)) - lam
    x_min = 1e-12 * x_max
    x = x_max
    for _ in range(40):
        sx = max(x, 1e-300)
        dp = math.log(sx * dq / (k * dr)) / v + 0.5 * v
        dm = dp - v
        phi_m_dp = norm_cdf(-dp)
        phi_m_dm = norm_cdf(-dm)
        pdf_dp = norm_pdf(dp)
        npv = dr * k * phi_m_dm - sx * dq * phi_m_dp
        theta = r * k * dr * phi_m_dm - q * sx * dq * phi_m_dp - s2 * sx / (2.0 * v) * dq * pdf_dp
        charm = -dq * (pdf_dp * ((r - q) / v - dm / (2.0 * tau)) + q * phi_m_dp)
        fx = (1.0 - dq * phi_m_dp) * sx - beta * (k - sx - npv) + alpha * theta / (dr * r)
        fp = (1.0 - dq * phi_m_dp + dq / v * pdf_dp + beta * (1.0 - dq * phi_m_dp)
              + alpha / (r * dr) * charm)
        gamma = pdf_dp * dq / (v * sx)
        colour = gamma * (q + (r - q) * dp / v + (1.0 - dp * dm) / (2.0 * tau))
        fpp = dq * (pdf_dp / (sx * v) - pdf_dp * dp / (sx * v * v)) + beta * gamma + (
            alpha / (r * dr) * colour)
        lf = fx * fpp / (fp * fp)
        step = fx / fp / (1.0 - 0.5 * lf)
        x_old = x
        x = max(x_min, x - step)
        if not math.isfinite(x):
            return x_old
        if abs(x - x_old) < 1e-13 * k:
            break
    return x


@njit(**_JIT)
def put_boundary(r: float, q: float, vol: float, t_years: float, scheme: tuple,
                 c: np.ndarray) -> None:
    """Chebyshev coefficients c (n+1) of H(z) = ln(B/X)^2 of the put exercise boundary for a
    strike of 1 (r > 0, vol > 0, t_years > 0).  The boundary scales with the strike, so c
    serves every strike (and spot) of one (r, q, vol, t_years).

    The fixed-point integrals of all n nodes x l quadrature points are evaluated as one flat
    array loop (``_fp_points``: the boundary read through a Chebyshev basis matrix, the
    branch-free ``_vmath`` exp and normal CDF), which LLVM vectorises; what does not depend on
    the boundary (the points' discount factors and weights) is computed once, not per
    iteration; the nodes' updates are one vector loop too (``_fp_nodes``).  The same equations
    as the scalar form node by node (tests/analytics/test_american_boundary.py: ln B within
    1e-12 of it)."""
    n_nodes, m_iter, fx, fw, _px, _pw, fit, z_nodes, z_fp, _z_pr, m_s, fx_s, fw_s, z_fp_s = scheme
    w = steep_weight(r, q, vol, t_years)
    if w > 0.0:
        _solve_boundary(r, q, vol, t_years, n_nodes, fit, z_nodes, fx, fw, z_fp, m_iter, False, c)
    if w < 1.0:
        cb = np.empty(n_nodes + 1) if w > 0.0 else c
        _solve_boundary(r, q, vol, t_years, n_nodes, fit, z_nodes, fx_s, fw_s, z_fp_s, m_s, True,
                        cb)
        if w > 0.0:
            for j in range(n_nodes + 1):
                c[j] = w * c[j] + (1.0 - w) * cb[j]


@njit(**_IJIT)
def steep_weight(r: float, q: float, vol: float, t_years: float) -> float:
    """Weight of the phi form of the fixed point in a put's boundary (1 - that of the Phi
    form): 1 up to the steepness s = (r - q) t / vol^2 = STEEP_BAND[0], 0 from STEEP_BAND[1],
    a quintic smoothstep between (the boundary, hence prices and their rate/vol slopes,
    continuous with two derivatives: the vol tables of ``_american_grouped`` interpolate a
    blended boundary within 7e-7 of row by row, 4e-6 with the cubic step over s 4..6)."""
    x = ((r - q) * t_years / (vol * vol) - STEEP_BAND[0]) / (STEEP_BAND[1] - STEEP_BAND[0])
    if not x > 0.0:
        return 1.0
    if x >= 1.0:
        return 0.0
    return 1.0 - x * x * x * (10.0 + x * (6.0 * x - 15.0))


@njit(**_JIT)
def _solve_boundary(r: float, q: float, vol: float, t_years: float, n_nodes: int,
                    fit: np.ndarray, z_nodes: np.ndarray, fx: np.ndarray, fw: np.ndarray,
                    z_fp: np.ndarray, m_iter: int, form_b: bool, c: np.ndarray) -> None:
    """``put_boundary`` by one form of the fixed point: phi (``form_b`` False; ALO's
    FP-A as QuantLib names it) or Phi (True; FP-B) with the quadrature rule fx, fw
    (read points z_fp) and m_iter iterations, the first a Jacobi-Newton step."""
    k = 1.0
    x_max = min(1.0, r / q) if q > 0.0 else 1.0
    nn = n_nodes + 1
    nl = fx.shape[0]
    npt = n_nodes * nl
    h = np.zeros(nn)
    taus = np.empty(nn)
    for i in range(nn):
        z1 = 1.0 + z_nodes[i]
        taus[i] = 0.25 * t_years * z1 * z1
    taus[0] = 0.0
    for i in range(1, nn):
        b = _qdplus_boundary(k, r, q, vol, taus[i], x_max)
        h[i] = math.log(b / x_max) ** 2
    _cheb_fit(h, fit, c)
    # per point p = (node i - 1) * l + j: Chebyshev basis T_k(z_fp[i, j]) and the constant parts
    basis = np.empty((nn, npt))
    cst = np.empty((8, npt))  # a12, b12, w3, drift, 1/vm, vm/2, lnbx of the point's node, a3
    zz = np.empty(npt)
    for i in range(1, nn):
        tau = taus[i]
        sq_tau = math.sqrt(tau)
        stv = sq_tau / vol
        for j in range(nl):
            p = (i - 1) * nl + j
            zz[p] = z_fp[i, j]
            th = 0.25 * math.pi * (1.0 + fx[j])
            sn = math.sin(th)
            cs = math.cos(th)
            m = tau * sn * sn
            vm = vol * sq_tau * sn
            cst[0, p] = 0.5 * math.pi * tau * sn * cs
            cst[1, p] = 0.5 * math.pi * stv * cs
            cst[2, p] = 0.5 * math.pi * stv * cs
            cst[3, p] = (r - q) * m
            cst[4, p] = 1.0 / vm
            cst[5, p] = 0.5 * vm
            basis[0, p] = q * (tau - m)  # exponents, turned into factors below
            basis[1, p] = r * (tau - m)
    ee = np.empty((2, npt))
    exp_loop(basis[0], ee[0])
    exp_loop(basis[1], ee[1])
    for p in range(npt):
        eq = ee[0, p]
        er = ee[1, p]
        j = p % nl
        cst[7, p] = cst[0, p] * fw[j] * er if form_b else 0.0
        cst[0, p] *= fw[j] * eq
        cst[1, p] *= 0.0 if form_b else fw[j] * eq * _INV_SQRT_2PI
        cst[2, p] *= 0.0 if form_b else fw[j] * er * _INV_SQRT_2PI
    for p in range(npt):
        basis[0, p] = 1.0
        basis[1, p] = zz[p]
    for kk in range(2, nn):
        for p in range(npt):
            basis[kk, p] = 2.0 * zz[p] * basis[kk - 1, p] - basis[kk - 2, p]
    acc = np.empty(npt)
    t12 = np.empty(npt)
    t3 = np.empty(npt)
    wk = np.empty((5, npt))
    # per node: k12, k3 sums, -sqrt(H), tau, vol sqrt(tau), e^{-(r-q) tau}
    nd = np.zeros((6, nn))
    for i in range(1, nn):
        nd[3, i] = taus[i]
        nd[4, i] = vol * math.sqrt(taus[i])
        nd[5, i] = k * math.exp(-(r - q) * taus[i])
    ln_xm = math.log(x_max / k)
    for it in range(m_iter):
        for i in range(1, nn):
            sh = _sqrt_h(c, z_nodes[i])
            nd[2, i] = -sh
            for j in range(nl):
                cst[6, (i - 1) * nl + j] = -sh
        _fp_points(c, basis, cst, acc, t12, t3, wk)
        for i in range(1, nn):
            k12 = 0.0
            k3 = 0.0
            for j in range(nl):
                k12 += t12[(i - 1) * nl + j]
                k3 += t3[(i - 1) * nl + j]
            nd[0, i] = k12
            nd[1, i] = k3
        _fp_nodes(nd, h, r, q, x_max, ln_xm, it == 0, form_b)
        _cheb_fit(h, fit, c)


@njit(**_IJIT)
def _fp_points(c: np.ndarray, basis: np.ndarray, cst: np.ndarray, acc: np.ndarray,
               t12: np.ndarray, t3: np.ndarray, wk: np.ndarray) -> None:
    """The fixed-point integrands at every point (vector loops): t12 = a12 Phi(dp) +
    b12 phi(dp) (the K1 + K2 terms of D), t3 = w3 phi(dm) + a3 Phi(dm) (K3 of N), with sqrt(H)
    at the point from the basis (k outer, so each pass is a vector loop); wk scratch (5, points).
    The phi form has a3 = 0, the Phi form b12 = w3 = 0."""
    npt = acc.shape[0]
    for p in range(npt):
        acc[p] = c[0] * basis[0, p]
    for kk in range(1, c.shape[0]):
        ck = c[kk]
        for p in range(npt):
            acc[p] += ck * basis[kk, p]
    for p in range(npt):
        sh = math.sqrt(acc[p] if acc[p] > 0.0 else 0.0)
        dp = (cst[6, p] + sh + cst[3, p]) * cst[4, p] + cst[5, p]
        wk[0, p] = dp
        wk[1, p] = dp - 2.0 * cst[5, p]
    phi_loop(wk[0], wk[2], wk[3])
    phi_loop(wk[1], wk[4], t3)
    for p in range(npt):
        t12[p] = cst[0, p] * wk[3, p] + cst[1, p] * wk[2, p]
        t3[p] = cst[2, p] * wk[4, p] + cst[7, p] * t3[p]


@njit(**_IJIT)
def _fp_nodes(nd: np.ndarray, h: np.ndarray, r: float, q: float, x_max: float, ln_xm: float,
              newton: bool, form_b: bool) -> None:
    """New H = ln(B/X)^2 at nodes 1..n from their integrals:
    B = K e^{-(r-q) tau} N/D, the first iteration a Jacobi-Newton step with the derivative of
    the non-integral terms only; a non-positive or non-finite value keeps the old boundary.
    phi form: N = phi(dm)/v + r K3, D = phi(dp)/v + Phi(dp) + q K12; Phi form (``form_b``):
    N = Phi(dm) + r K3, D = Phi(dp) + q K12."""
    for i in range(1, h.shape[0]):
        lnbx = nd[2, i]
        b = x_max * math.exp(lnbx)
        v = nd[4, i]
        dp0 = (ln_xm + lnbx + (r - q) * nd[3, i]) / v + 0.5 * v
        dm0 = dp0 - v
        ep = math.exp(-0.5 * dp0 * dp0)
        pdf_p = _INV_SQRT_2PI * ep
        pdf_m = _INV_SQRT_2PI * math.exp(-0.5 * dm0 * dm0)
        if form_b:
            n_ = norm_cdf(dm0) + r * nd[1, i]
            d_ = norm_cdf(dp0) + q * nd[0, i]
            dd = pdf_p / (b * v)
            dn = pdf_m / (b * v)
        else:
            n_ = pdf_m / v + r * nd[1, i]
            d_ = pdf_p / v + norm_cdf(dp0) + q * nd[0, i]
            dd = -pdf_p * dp0 / (b * v * v) + pdf_p / (b * v)
            dn = -pdf_m * dm0 / (b * v * v)
        fv = nd[5, i] * n_ / d_
        fd = nd[5, i] * (dn / d_ - dd * n_ / (d_ * d_))
        fv = b - (fv - b) / (fd - 1.0) if newton else fv
        ok = fv > 0.0 and fv < math.inf
        fv = fv if ok else b
        lf = math.log(fv / x_max)
        h[i] = lf * lf


PREMIUM_ROWS = 9
"""Rows of ``premium_sum``'s scratch."""


@njit(**_IJIT)
def premium_sum(base: float, sh: np.ndarray, t_years: float, r: float, q: float, vol: float,
                s: float, k: float, scheme: tuple, w: np.ndarray) -> float:
    """Early-exercise premium of a put (spot s, strike k): the integral over sqrt(elapsed time)
    z in [0, sqrt(T)] of r k e^{-r t} Phi(v z - dp) - q s e^{-q t} Phi(-dp), by the scheme's
    p-point Gauss-Legendre rule; ``base`` = ln(s/k) - ln(X/k), ``sh[i]`` = sqrt(H) of the
    boundary at the i-th point (time left T - t).  The exp and Phi of all points in vector
    loops (``exp_loop``, ``phi_loop``) over the scratch ``w`` (PREMIUM_ROWS, p), then the sum
    in point order."""
    px = scheme[4]
    pw = scheme[5]
    n = px.shape[0]
    half = 0.5 * math.sqrt(t_years)
    for i in range(n):
        z = half * (px[i] + 1.0)
        t = z * z
        v = vol * z
        dp = (base + sh[i] + (r - q) * t) / v + 0.5 * v
        w[0, i] = v - dp
        w[1, i] = -dp
        w[2, i] = -r * t
        w[3, i] = -q * t
    phi_loop(w[0, :n], w[4, :n], w[5, :n])
    phi_loop(w[1, :n], w[4, :n], w[6, :n])
    exp_loop(w[2, :n], w[7, :n])
    exp_loop(w[3, :n], w[8, :n])
    acc = 0.0
    for i in range(n):
        z = half * (px[i] + 1.0)
        acc += pw[i] * 2.0 * z * (r * k * w[7, i] * w[5, i] - q * s * w[8, i] * w[6, i])
    return acc * half


@njit(**_JIT)
def put_from_boundary(s: float, k: float, t_years: float, r: float, q: float, vol: float,
                      c: np.ndarray, scheme: tuple) -> float:
    """American put = European + early-exercise premium integral over the boundary c of
    ``put_boundary`` (same r, q, vol, t_years; any s, k)."""
    z_pr = scheme[9]
    ln_xk = math.log(min(1.0, r / q)) if q > 0.0 else 0.0
    if math.log(s / k) <= ln_xk - _sqrt_h(c, 1.0):
        return k - s  # at or beyond today's exercise boundary: exercise now
    np_ = z_pr.shape[0]
    sh = np.empty(np_)
    for i in range(np_):
        sh[i] = _sqrt_h(c, z_pr[i])
    add_on = premium_sum(math.log(s / k) - ln_xk, sh, t_years, r, q, vol, s, k, scheme,
                         np.empty((PREMIUM_ROWS, np_)))
    euro = euro_price1(s, k, t_years, r, q, vol, -1.0)
    # Floor at intrinsic: the quadrature can undershoot it by ~1e-9 deep in the money.
    return max(max(euro, 0.0) + max(add_on, 0.0), k - s)


@njit(**_JIT)
def _put_alo(s: float, k: float, t_years: float, r: float, q: float, vol: float,
             scheme: tuple) -> float:
    """American put for r > 0, vol > 0, t_years > 0 (ALO spectral collocation)."""
    c = np.zeros(scheme[0] + 1)
    put_boundary(r, q, vol, t_years, scheme, c)
    return put_from_boundary(s, k, t_years, r, q, vol, c, scheme)


@njit(**_JIT)
def _put_edge(s: float, k: float, t_years: float, r: float, q: float, vol: float,
              scheme: tuple) -> float:
    if k <= 0.0:
        return 0.0
    if t_years <= 0.0:
        return max(k - s, 0.0)
    if r <= 0.0 and r <= q:
        return max(0.0, euro_price1(s, k, t_years, r, q, vol, -1.0))
    if r < 0.0:
        return math.nan  # double exercise boundary (q < r < 0): not handled by this engine
    if vol <= 0.0:
        v0 = max(0.0, k - s)
        v1 = max(0.0, k * math.exp(-r * t_years) - s * math.exp(-q * t_years))
        best = max(v0, v1)
        if r != q and q > 0.0:
            te = math.log(r * k / (q * s)) / (r - q)
            if 0.0 < te < t_years:
                best = max(best, k * math.exp(-r * te) - s * math.exp(-q * te))
        return best
    return _put_alo(s, k, t_years, r, q, vol, scheme)


@njit(**_JIT)
def amer_price1(s: float, k: float, t_years: float, r: float, q: float, vol: float, cp: float,
                scheme: tuple) -> float:
    """American price of one option; NaN on bad input.  Tested: test_american.py."""
    if not (s > 0.0 and k > 0.0 and t_years >= 0.0 and vol >= 0.0 and math.isfinite(s)
            and math.isfinite(k) and math.isfinite(t_years) and math.isfinite(vol)
            and math.isfinite(r) and math.isfinite(q) and (cp == 1.0 or cp == -1.0)):
        return math.nan
    if cp > 0.0:
        return _put_edge(k, s, t_years, q, r, vol, scheme)
    return _put_edge(s, k, t_years, r, q, vol, scheme)


@njit(**_JIT)
def amer_price_kernel(s: np.ndarray, k: np.ndarray, t: np.ndarray, r: np.ndarray,
                      q: np.ndarray, vol: np.ndarray, cp: np.ndarray, scheme: tuple,
                      out: np.ndarray) -> None:
    """American prices per row.  Tested: test_american.py::test_american_matches_quantlib_qdfp."""
    for i in range(s.shape[0]):
        out[i] = amer_price1(s[i], k[i], t[i], r[i], q[i], vol[i], cp[i], scheme)
