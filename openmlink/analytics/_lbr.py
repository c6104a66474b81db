"""European implied volatility with Let's-Be-Rational-class accuracy (clean-room, Numba).

Written from the mathematics only (no reference implementation was consulted); the derivation
of every formula below is in this docstring and in tools/derive_lbr_series.py, which checks
them against mpmath.

Normalised coordinates.  With F the forward, K the strike, x = ln(F/K), s = vol*sqrt(T) the
total standard deviation, the undiscounted Black price divided by sqrt(F*K) is
    b(x, s) = e^{x/2} Phi(x/s + s/2) - e^{-x/2} Phi(x/s - s/2).
Only the out-of-the-money branch x <= 0 is solved (the in-the-money time value equals the
out-of-the-money call at -|x| by put-call parity), so 0 < b < b_max = e^{x/2}.

Evaluation of b with full relative accuracy.  Let h = x/s, t = s/2, a = -h/sqrt2 >= 0,
d = t/sqrt2.  Because e^{x/2} e^{-(h+t)^2/2} = e^{-x/2} e^{-(h-t)^2/2} = e^{-(h^2+t^2)/2},
    b = 1/2 e^{-(h^2+t^2)/2} [erfcx(a - d) - erfcx(a + d)],          erfcx(y) = e^{y^2} erfc(y).
  * Direct region: this difference, with erfcx from _normal.py (Cody's rational forms).
  * Series region (d < 0.03 max(a, 1): the two erfcx nearly cancel; outside it the direct
    difference loses at most about 4 bits).  From
    erfcx(y) = 2/sqrt(pi) Int_0^inf e^{-u^2 - 2yu} du,
        erfcx(a - d) - erfcx(a + d) = 4/sqrt(pi) Int_0^inf e^{-u^2-2au} sinh(2du) du
                                    = 4/sqrt(pi) Sum_{k odd} (2d)^k/k! M_k(a),
    with the moments M_k(a) = Int_0^inf u^k e^{-u^2-2au} du > 0: a sum of positive terms, no
    cancellation.  Integrating d/du e^{-u^2-2au} by parts gives
        2 M_1 + 2a M_0 = 1,      2 M_k + 2a M_{k-1} = (k-1) M_{k-2}   (k >= 2).
    For a <= 3 the moments are run forwards from M_0 = sqrt(pi)/2 erfcx(a) (the amplification
    of rounding errors, about 2a^2, stays below 20).  For a > 3 the forward direction cancels,
    so the ratios r_k = M_k/M_{k-1} are run backwards, r_{k-1} = (k-1)/(2a + 2 r_k) (a
    continued fraction with positive terms, started from the root of 2r^2 + 2ar = k), and
    M_0 = 1/(2a + 2 r_1); the sum is accumulated in the same backward pass (Horner form).
  * h + t > 1: b = e^{x/2} Phi(h+t) - e^{-x/2} Phi(h-t) directly (here the two terms differ
    by at least a factor of a few, and the erfcx product e^{-(h^2+t^2)/2} erfcx(a - d) would
    lose (h+t)^2/2 ulps to the separate exponentials).
  * x = 0: b = erf(s/(2 sqrt2)).
Derivatives in s (closed form): b' = e^{-(h^2+t^2)/2}/sqrt(2 pi) (vega), b''/b' = x^2/s^3 - s/4,
b'''/b' = (x^2/s^3 - s/4)^2 - 3x^2/s^4 - 1/4.

Inversion.  Two objectives, each well conditioned where it is used:
  * beta <= b_max/2:  f(s) = ln b(s) - ln beta  (relative accuracy even for beta ~ 1e-300);
  * beta >  b_max/2:  f(s) = ln(b_max - beta) - ln(b_max - b(s)), with
    b_max - b = e^{x/2} Phi(-h-t) + e^{-x/2} Phi(h-t) evaluated without cancellation.
Initial guess (own construction):
  * low wing (beta below b_c = b(x, s_c) at the inflection point s_c = sqrt(2|x|), where
    b'' = 0; bracket (0, s_c)): the leading term of the series,
    b ~ 4d/sqrt(pi) e^{-(h^2+t^2)/2} M_1(a), solved for h by three fixed-point passes
    h^2 = 2 ln(4d M_1(a) / (sqrt(pi) beta)) - t^2 (contracting for small beta, poor near s_c);
  * b_c <= beta <= b_max/2 (bracket (s_c, inf)): the near-the-money expansion
    b(x, s) ~ erf(s/(2 sqrt2)) + x/2 inverted with the inverse normal;
  * beta > b_max/2: b_max - b ~ 2 cosh(x/2) Phi(-s/2) inverted;
then Householder steps of order 3 (quartic convergence) on the chosen objective,
    s <- s + n (1 + n f''/(2f')) / (1 + n (f''/f' + n f'''/(6 f'))),   n = -f/f',
inside a bracket [s_lo, s_hi] that every evaluation tightens (b is increasing in s); a step
leaving the bracket is replaced by bisection (geometric while the bracket spans decades), so
convergence is guaranteed (the bracket must also halve every three evaluations).  The
iteration stops once a step is below 1e-5 relative (the next error is then of order 1e-20 for
quartic convergence) or the bracket is below 1e-15.  Typical inputs need 2-4 evaluations of b
(test_lbr.py::test_solver_takes_few_evaluations_on_typical_inputs); a better low-wing guess
would save about one.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._errors import IvError
from ._normal import erfcx, inv_norm_cdf, norm_cdf

__all__ = [
    "euro_iv_kernel",
    "normalised_black_call",
    "normalised_implied_vol",
    "normalised_vega",
    "solve_normalised",
]

_JIT = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}

_SQRT2 = 1.4142135623730950488
_INV_SQRT2 = 0.70710678118654752440
_INV_SQRT_2PI = 0.39894228040143267794
_TWO_OVER_SQRT_PI = 1.1283791670955125739
_SQRT_PI_OVER_2 = 0.88622692545275801365
_MAX_ITER = 64
_DBL_MIN = 2.2250738585072014e-308
_SERIES_D = 0.03  # series when d < 0.03 max(a, 1): the erfcx difference would lose > ~4 bits

_OK = int(IvError.OK)
_BAD_INPUT = int(IvError.BAD_INPUT)
_BELOW = int(IvError.BELOW_INTRINSIC)
_ABOVE = int(IvError.ABOVE_MAX)
_ZERO_TV = int(IvError.ZERO_TIME_VALUE)
_NO_CONV = int(IvError.NO_CONVERGENCE)


@njit(**_JIT)
def _sinh_moment_sum(a: float, d: float) -> float:
    """Sum_{k odd} (2d)^k/k! M_k(a) = Int_0^inf e^{-u^2-2au} sinh(2du) du, for d < 0.1 max(a,1)."""
    q = 4.0 * d * d
    if a <= 3.0:
        # Forward moments; stop when a term no longer changes the sum.
        m_prev = _SQRT_PI_OVER_2 * erfcx(a)  # M_0
        m_cur = 0.5 - a * m_prev  # M_1
        term = 2.0 * d
        acc = term * m_cur
        k = 1
        while k < 60:
            m_even = (k * m_prev - 2.0 * a * m_cur) * 0.5  # M_{k+1}
            m_odd = ((k + 1) * m_cur - 2.0 * a * m_even) * 0.5  # M_{k+2}
            term *= q / ((k + 1) * (k + 2))
            inc = term * m_odd
            acc += inc
            if inc <= 1e-17 * acc:
                break
            m_prev = m_even
            m_cur = m_odd
            k += 2
        return acc
    # Backward ratios r_k = M_k/M_{k-1}; terms decay at least like (d/a)^2 per odd step.
    ratio = d / a
    n_odd = 1
    if ratio > 0.0:
        n_odd = 1 + int(-39.2 / math.log(ratio * ratio))  # (d/a)^(2 n) < 1e-17
    n_top = 2 * n_odd - 1  # highest odd k kept
    kk = n_top + 2 + int(8.0 + 180.0 / (a * a))
    r = kk / (a + math.sqrt(a * a + 2.0 * kk))  # root of 2r^2 + 2ar = k at k = kk
    horner = 0.0
    r_hi = 0.0  # r_{k+2} once r_{k+1} is known
    for k in range(kk, 1, -1):
        r_new = (k - 1) / (2.0 * a + 2.0 * r)  # r_{k-1}
        j = k - 1
        # When j is odd and <= n_top: A_j = 1 + r_{j+1} r_{j+2} q/((j+1)(j+2)) A_{j+2}
        if j % 2 == 1 and j <= n_top:
            horner = 1.0 + r * r_hi * q / ((j + 1) * (j + 2)) * horner
        r_hi = r
        r = r_new
    # r now holds r_1 (and horner A_1).
    m0 = 1.0 / (2.0 * a + 2.0 * r)
    return m0 * r * 2.0 * d * horner


@njit(**_JIT)
def _b_otm(x: float, s: float) -> float:
    """b(x, s) for x <= 0, s > 0 with full relative accuracy (regions in the module doc)."""
    if x == 0.0:
        return math.erf(s * (0.5 * _INV_SQRT2))
    h = x / s
    t = 0.5 * s
    a = -h * _INV_SQRT2
    d = t * _INV_SQRT2
    if d < _SERIES_D * max(a, 1.0):
        return _TWO_OVER_SQRT_PI * math.exp(-0.5 * (h * h + t * t)) * _sinh_moment_sum(a, d)
    if h + t > 1.0:
        return math.exp(0.5 * x) * norm_cdf(h + t) - math.exp(-0.5 * x) * norm_cdf(h - t)
    return 0.5 * math.exp(-0.5 * (h * h + t * t)) * (erfcx(a - d) - erfcx(a + d))


@njit(**_JIT)
def _b_complement(x: float, s: float) -> float:
    """b_max - b(x, s) = e^{x/2} Phi(-h-t) + e^{-x/2} Phi(h-t) for x <= 0 (no cancellation)."""
    h = x / s
    t = 0.5 * s
    return math.exp(0.5 * x) * norm_cdf(-h - t) + math.exp(-0.5 * x) * norm_cdf(h - t)


@njit(**_JIT)
def normalised_black_call(x: float, s: float) -> float:
    """Normalised Black call e^{x/2} Phi(x/s + s/2) - e^{-x/2} Phi(x/s - s/2) (any x, s >= 0).

    Full relative accuracy for x <= 0; x > 0 adds the intrinsic e^{x/2} - e^{-x/2}.
    """
    if s <= 0.0:
        return max(math.exp(0.5 * x) - math.exp(-0.5 * x), 0.0)
    if x > 0.0:
        return 2.0 * math.sinh(0.5 * x) + _b_otm(-x, s)
    return _b_otm(x, s)


@njit(inline="always", **_JIT)
def normalised_vega(x: float, s: float) -> float:
    """d b / d s = e^{-(x^2/s^2 + s^2/4)/2} / sqrt(2 pi)."""
    if s <= 0.0:
        return 0.0
    h = x / s
    t = 0.5 * s
    return _INV_SQRT_2PI * math.exp(-0.5 * (h * h + t * t))


@njit(**_JIT)
def _low_wing_guess(beta: float, x: float) -> float:
    """Solve beta = 4d/sqrt(pi) e^{-(h^2+t^2)/2} M_1(a) for s by two fixed-point passes."""
    ax = -x
    lnb = math.log(beta)
    s = ax / math.sqrt(max(-2.0 * lnb, 1e-300))
    for _ in range(3):
        t = 0.5 * s
        a = ax / (s * _SQRT2)
        if a > 4.0:
            ia2 = 1.0 / (a * a)
            m1 = 0.25 * ia2 * (1.0 - ia2 * (1.5 - ia2 * (3.75 - 13.125 * ia2)))
        else:
            m1 = 0.5 - a * _SQRT_PI_OVER_2 * erfcx(a)
        arg = 2.0 * (math.log(4.0 * t * _INV_SQRT2 * m1 / 1.7724538509055160273) - lnb) - t * t
        if not arg > 0.0:
            break
        s = ax / math.sqrt(arg)
    return s


@njit(**_JIT)
def _solve(beta: float, x: float) -> tuple[float, int]:
    """(s, number of b evaluations) with b(x, s) = beta; x <= 0, DBL_MIN <= beta < e^{x/2}."""
    bmax = math.exp(0.5 * x)
    high = beta > 0.5 * bmax
    ax = -x
    s_c = math.sqrt(2.0 * ax)
    s_lo = 0.0
    s_hi = math.inf
    # ---- initial guess and bracket ---------------------------------------------------------
    if high:
        s = -2.0 * inv_norm_cdf((bmax - beta) / (bmax + 1.0 / bmax))
        s_lo = s_c  # b(s_c) < b_max/2 < beta
        s = max(s, s_c)
        ln_target = math.log(bmax - beta)
    else:
        b_c = _b_otm(x, s_c) if ax > 0.0 else 0.0
        if beta < b_c:
            s_hi = s_c
            s = _low_wing_guess(beta, x)
            if not (0.0 < s < s_c):
                s = 0.5 * s_c
        else:
            s_lo = s_c
            s = 2.0 * inv_norm_cdf(0.5 * (1.0 + beta - 0.5 * x))
            if not s > s_c:
                s = s_c * 1.5 + 1e-300
        ln_target = math.log(beta)
    x2 = x * x
    width = s_hi - s_lo
    for it in range(_MAX_ITER):
        if not (s > s_lo and s < s_hi):
            if s_hi == math.inf:
                s = 2.0 * s_lo + 1.0
            elif s_lo > 0.0 and s_hi > 4.0 * s_lo:
                s = math.sqrt(s_lo * s_hi)
            else:
                s = 0.5 * (s_lo + s_hi)
        h = x / s
        t = 0.5 * s
        vega = _INV_SQRT_2PI * math.exp(-0.5 * (h * h + t * t))
        lp = x2 / (s * s * s) - 0.5 * t  # b''/b'
        lpp = lp * lp - 3.0 * x2 / (s * s * s * s) - 0.25  # b'''/b'
        if high:
            cb = _b_complement(x, s)
            if not cb > 0.0:
                s_hi = s  # b rounds to b_max: s is above the root
                continue
            f = ln_target - math.log(cb)
            g1 = vega / cb
            # f' = b'/c, f'' = b''/c + (b'/c)^2, f''' = b'''/c + 3 b'' b'/c^2 + 2 (b'/c)^3
            f2 = g1 * lp + g1 * g1
            f3 = g1 * lpp + 3.0 * g1 * g1 * lp + 2.0 * g1 * g1 * g1
        else:
            bv = _b_otm(x, s)
            if not bv > 0.0:
                s_lo = s
                continue
            f = math.log(bv) - ln_target
            g1 = vega / bv
            # f' = b'/b, f'' = b''/b - (b'/b)^2, f''' = b'''/b - 3 b'' b'/b^2 + 2 (b'/b)^3
            f2 = g1 * lp - g1 * g1
            f3 = g1 * lpp - 3.0 * g1 * g1 * lp + 2.0 * g1 * g1 * g1
        if f > 0.0:
            s_hi = s
        elif f < 0.0:
            s_lo = s
        else:
            return s, it + 1
        if s_hi - s_lo <= 1e-15 * s:
            return s, it + 1
        if not g1 > 0.0:
            continue  # derivative underflow: bisect
        n = -f / g1
        h2 = f2 / g1
        h3 = f3 / g1
        step = n * (1.0 + 0.5 * n * h2) / (1.0 + n * (h2 + n * h3 / 6.0))
        if not math.isfinite(step):
            step = n
        s_new = s + step
        if abs(step) <= 1e-5 * s and s_lo < s_new < s_hi:
            return s_new, it + 1
        if it % 3 == 2:
            # Safeguard: the bracket must at least halve every three evaluations.
            new_width = s_hi - s_lo
            if new_width > 0.5 * width:
                s_new = math.nan  # forces a bisection
            width = new_width
        s = s_new
    return math.nan, _MAX_ITER


solve_normalised = _solve


@njit(**_JIT)
def normalised_implied_vol(beta: float, x: float) -> float:
    """s = vol*sqrt(T) with b(x, s) = beta (any x; beta is the full normalised call value).

    Returns 0 for beta at or below the intrinsic value (or a subnormal time value), inf for
    beta >= e^{x/2}, NaN on NaN input.
    """
    if x > 0.0:
        beta = beta - 2.0 * math.sinh(0.5 * x)
        x = -x
    if not (beta == beta and x == x):
        return math.nan
    if not beta >= _DBL_MIN:
        return 0.0  # a subnormal time value has too few bits to carry a vol
    if beta >= math.exp(0.5 * x):
        return math.inf
    return _solve(beta, x)[0]


@njit(**_JIT)
def euro_iv_kernel(p: np.ndarray, s: np.ndarray, k: np.ndarray, t: np.ndarray,
                   r: np.ndarray, q: np.ndarray, cp: np.ndarray, b76: bool,
                   vol_out: np.ndarray, err_out: np.ndarray) -> None:
    """European implied vol (annualised) per row; err per IvError.

    Black-76 (b76) takes s as the futures price.  Tested: test_lbr.py (QuantLib and
    lets_be_rational comparisons, dense-grid and property round trips, error codes).
    """
    for i in range(p.shape[0]):
        pi, si, ki, ti, ri, c = p[i], s[i], k[i], t[i], r[i], cp[i]
        qi = ri if b76 else q[i]
        vol_out[i] = math.nan
        if not (si > 0.0 and ki > 0.0 and ti > 0.0 and math.isfinite(pi) and math.isfinite(si)
                and math.isfinite(ki) and math.isfinite(ti) and math.isfinite(ri)
                and math.isfinite(qi) and (c == 1.0 or c == -1.0)):
            err_out[i] = _BAD_INPUT
            continue
        fwd = si * math.exp((ri - qi) * ti)
        undisc = pi * math.exp(ri * ti)
        intrinsic = max(c * (fwd - ki), 0.0)
        upper = fwd if c > 0.0 else ki
        if undisc >= upper:
            err_out[i] = _ABOVE
            continue
        tv = undisc - intrinsic
        tol = 8.0 * 2.220446049250313e-16 * intrinsic
        if tv < -tol:
            err_out[i] = _BELOW
            continue
        if tv <= tol:
            err_out[i] = _ZERO_TV
            continue
        x = math.log(fwd / ki)
        # Out-of-the-money side: the time value is an OTM call at log-moneyness -|x|.
        sqfk = math.sqrt(fwd) * math.sqrt(ki)
        sn = normalised_implied_vol(tv / sqfk, -abs(x))
        if not (sn > 0.0 and math.isfinite(sn)):
            err_out[i] = _NO_CONV
            continue
        vol_out[i] = sn / math.sqrt(ti)
        err_out[i] = _OK
