"""Peter Jaeckel's "Let's Be Rational" implied volatility, vectorised with Numba.

Algorithm (P. Jaeckel, "Let's Be Rational", Wilmott 2015, and the reference code's revision of
2016/2017): map the premium to the normalised out-of-the-money Black price
beta = time_value / sqrt(F*K) at log-moneyness x = ln(F/K) <= 0; pick one of four segments
(split at s_l, s_c = sqrt(2|x|), s_h) and build the initial guess from a shape-preserving rational
cubic in a transformed variable (lower map f_l for the lowest segment, upper map f_u for the
highest); then take at most two Householder(3) steps on an objective chosen per segment
(1/ln(b) - 1/ln(beta) lowest, b - beta in the middle, ln((b_max-beta)/(b_max-b)) highest), with
bracketing and bisection fallback.  The normalised Black function b(x, s) is evaluated in four
regions (asymptotic expansion, small-t expansion, Phi difference, erfcx difference) so that it
keeps full relative accuracy.  s is the normalised vol std_dev = vol*sqrt(t_years).

The two series expansions below are those of Jaeckel's reference implementation, whose notice
reads: "Copyright (c) 2013-2014 Peter Jaeckel. Permission to use, copy, modify, and distribute
this software is freely granted, provided that this notice is preserved."
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._errors import IvError
from ._normal import erfcx, inv_norm_cdf, norm_cdf, norm_pdf

__all__ = [
    "euro_iv_kernel",
    "normalised_black_call",
    "normalised_implied_vol",
    "normalised_vega",
]

_JIT = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}

_DBL_EPS = 2.220446049250313e-16
_DBL_MIN = 2.2250738585072014e-308
_DBL_MAX = 1.7976931348623157e308
_SQRT_DBL_MIN = math.sqrt(_DBL_MIN)
_MAX_ITER = 2
_ASYMPTOTIC_THRESHOLD = -10.0
_SMALL_T_THRESHOLD = 2.0 * _DBL_EPS ** (1.0 / 16.0)
_INV_SQRT2 = 0.7071067811865475244008443621048490392848359376887
_INV_SQRT_2PI = 0.3989422804014326779399460599343818684758586311649
_SQRT_2PI = 2.506628274631000502415765284811045253006986740610
_TWO_PI = 6.283185307179586476925286766559005768394338798750
_SQRT_PI_OVER_2 = 1.253314137315500251207882642405522626503493370305
_SQRT3 = 1.732050807568877293527446341505872366942805253810
_SQRT_1_OVER_3 = 0.577350269189625764509148780501957455647601751270
_TWO_PI_OVER_SQRT27 = 1.209199576156145233729385505094770488189377498728
_PI_OVER_6 = 0.523598775598298873077107230546583814032861566563
_RC_MIN = -(1.0 - math.sqrt(_DBL_EPS))
_RC_MAX = 2.0 / (_DBL_EPS * _DBL_EPS)

_OK = int(IvError.OK)
_BAD_INPUT = int(IvError.BAD_INPUT)
_BELOW = int(IvError.BELOW_INTRINSIC)
_ABOVE = int(IvError.ABOVE_MAX)
_ZERO_TV = int(IvError.ZERO_TIME_VALUE)
_NO_CONV = int(IvError.NO_CONVERGENCE)


# ---------------------------------------------------------------- rational cubic interpolation
@njit(inline="always", **_JIT)
def _rc_interp(x, x_l, x_r, y_l, y_r, d_l, d_r, r):
    h = x_r - x_l
    if abs(h) <= 0.0:
        return 0.5 * (y_l + y_r)
    t = (x - x_l) / h
    if r < _RC_MAX:
        omt = 1.0 - t
        t2 = t * t
        omt2 = omt * omt
        return ((y_r * t2 * t + (r * y_r - h * d_r) * t2 * omt + (r * y_l + h * d_l) * t * omt2
                 + y_l * omt2 * omt) / (1.0 + (r - 3.0) * t * omt))
    return y_r * t + y_l * (1.0 - t)


@njit(inline="always", **_JIT)
def _rc_min_param(d_l, d_r, s, prefer_shape):
    monotonic = d_l * s >= 0.0 and d_r * s >= 0.0
    convex = d_l <= s <= d_r
    concave = d_l >= s >= d_r
    if not monotonic and not convex and not concave:
        return _RC_MIN
    d_r_m_d_l = d_r - d_l
    d_r_m_s = d_r - s
    s_m_d_l = s - d_l
    r1 = -_DBL_MAX
    r2 = r1
    if monotonic:
        if abs(s) >= _DBL_MIN:
            r1 = (d_r + d_l) / s
        elif prefer_shape:
            r1 = _RC_MAX
    if convex or concave:
        if not (abs(s_m_d_l) < _DBL_MIN or abs(d_r_m_s) < _DBL_MIN):
            r2 = max(abs(d_r_m_d_l / d_r_m_s), abs(d_r_m_d_l / s_m_d_l))
        elif prefer_shape:
            r2 = _RC_MAX
    elif monotonic and prefer_shape:
        r2 = _RC_MAX
    return max(_RC_MIN, max(r1, r2))


@njit(inline="always", **_JIT)
def _rc_param_left(x_l, x_r, y_l, y_r, d_l, d_r, d2_l, prefer_shape):
    """Convex control parameter fitting the second derivative d2_l at the left end."""
    h = x_r - x_l
    num = 0.5 * h * d2_l + (d_r - d_l)
    if abs(num) < _DBL_MIN:
        r = 0.0
    else:
        den = (y_r - y_l) / h - d_l
        if abs(den) < _DBL_MIN:
            r = _RC_MAX if num > 0.0 else _RC_MIN
        else:
            r = num / den
    return max(r, _rc_min_param(d_l, d_r, (y_r - y_l) / h, prefer_shape))


@njit(inline="always", **_JIT)
def _rc_param_right(x_l, x_r, y_l, y_r, d_l, d_r, d2_r, prefer_shape):
    """Convex control parameter fitting the second derivative d2_r at the right end."""
    h = x_r - x_l
    num = 0.5 * h * d2_r + (d_r - d_l)
    if abs(num) < _DBL_MIN:
        r = 0.0
    else:
        den = d_r - (y_r - y_l) / h
        if abs(den) < _DBL_MIN:
            r = _RC_MAX if num > 0.0 else _RC_MIN
        else:
            r = num / den
    return max(r, _rc_min_param(d_l, d_r, (y_r - y_l) / h, prefer_shape))


# ------------------------------------------------------------------ normalised Black function
@njit(inline="always", **_JIT)
def _normalised_intrinsic(x, theta):
    if theta * x <= 0.0:
        return 0.0
    x2 = x * x
    if x2 < 98.0 * _DBL_EPS ** 0.25:
        v = x * (1.0 + x2 * (1.0 / 24.0 + x2 * (1.0 / 1920.0 + x2 * (1.0 / 322560.0
                                                                     + x2 / 92897280.0))))
        return abs(max(theta * v, 0.0))
    b_max = math.exp(0.5 * x)
    return abs(max(theta * (b_max - 1.0 / b_max), 0.0))


@njit(**_JIT)
def _asymptotic_black(h, t):
    e = (t / h) * (t / h)
    r = (h + t) * (h - t)
    q = (h / r) * (h / r)
    asum = (
        2.0 +q* (-6.0E0-2.0* e +3.0* q* (1.0E1 +e* (2.0E1 +2.0* e) +5.0* q* (-1.4E1 +e* (-7.0E1
        +e* (-4.2E1-2.0* e)) +7.0* q* (1.8E1 +e* (1.68E2 +e* (2.52E2 +e* (7.2E1 +2.0* e))) +9.0*
        q* (-2.2E1 +e* (-3.3E2 +e* (-9.24E2 +e* (-6.6E2 +e* (-1.1E2-2.0* e)))) +1.1E1* q* (2.6E1
        +e* (5.72E2 +e* (2.574E3 +e* (3.432E3 +e* (1.43E3 +e* (1.56E2 +2.0* e))))) +1.3E1* q*
        (-3.0E1 +e* (-9.1E2 +e* (-6.006E3 +e* (-1.287E4 +e* (-1.001E4 +e* (-2.73E3 +e*
        (-2.1E2-2.0* e)))))) +1.5E1* q* (3.4E1 +e* (1.36E3 +e* (1.2376E4 +e* (3.8896E4 +e*
        (4.862E4 +e* (2.4752E4 +e* (4.76E3 +e* (2.72E2 +2.0* e))))))) +1.7E1* q* (-3.8E1 +e*
        (-1.938E3 +e* (-2.3256E4 +e* (-1.00776E5 +e* (-1.84756E5 +e* (-1.51164E5 +e* (-5.4264E4
        +e* (-7.752E3 +e* (-3.42E2-2.0* e)))))))) +1.9E1* q* (4.2E1 +e* (2.66E3 +e* (4.0698E4
        +e* (2.3256E5 +e* (5.8786E5 +e* (7.05432E5 +e* (4.0698E5 +e* (1.08528E5 +e* (1.197E4 +e*
        (4.2E2 +2.0* e))))))))) +2.1E1* q* (-4.6E1 +e* (-3.542E3 +e* (-6.7298E4 +e* (-4.90314E5
        +e* (-1.63438E6 +e* (-2.704156E6 +e* (-2.288132E6 +e* (-9.80628E5 +e* (-2.01894E5 +e*
        (-1.771E4 +e* (-5.06E2-2.0* e)))))))))) +2.3E1* q* (5.0E1 +e* (4.6E3 +e* (1.0626E5 +e*
        (9.614E5 +e* (4.08595E6 +e* (8.9148E6 +e* (1.04006E7 +e* (6.53752E6 +e* (2.16315E6 +e*
        (3.542E5 +e* (2.53E4 +e* (6.0E2 +2.0* e))))))))))) +2.5E1* q* (-5.4E1 +e* (-5.85E3 +e*
        (-1.6146E5 +e* (-1.77606E6 +e* (-9.37365E6 +e* (-2.607579E7 +e* (-4.01166E7 +e*
        (-3.476772E7 +e* (-1.687257E7 +e* (-4.44015E6 +e* (-5.9202E5 +e* (-3.51E4 +e*
        (-7.02E2-2.0* e)))))))))))) +2.7E1* q* (5.8E1 +e* (7.308E3 +e* (2.3751E5 +e* (3.12156E6
        +e* (2.003001E7 +e* (6.919458E7 +e* (1.3572783E8 +e* (1.5511752E8 +e* (1.0379187E8 +e*
        (4.006002E7 +e* (8.58429E6 +e* (9.5004E5 +e* (4.7502E4 +e* (8.12E2 +2.0* e)))))))))))))
        +2.9E1* q* (-6.2E1 +e* (-8.99E3 +e* (-3.39822E5 +e* (-5.25915E6 +e* (-4.032015E7 +e*
        (-1.6934463E8 +e* (-4.1250615E8 +e* (-6.0108039E8 +e* (-5.3036505E8 +e* (-2.8224105E8
        +e* (-8.870433E7 +e* (-1.577745E7 +e* (-1.472562E6 +e* (-6.293E4 +e* (-9.3E2-2.0*
        e)))))))))))))) +3.1E1* q* (6.6E1 +e* (1.0912E4 +e* (4.74672E5 +e* (8.544096E6 +e*
        (7.71342E7 +e* (3.8707344E8 +e* (1.14633288E9 +e* (2.07431664E9 +e* (2.33360622E9 +e*
        (1.6376184E9 +e* (7.0963464E8 +e* (1.8512208E8 +e* (2.7768312E7 +e* (2.215136E6 +e*
        (8.184E4 +e* (1.056E3 +2.0* e))))))))))))))) +3.3E1* (-7.0E1 +e* (-1.309E4 +e*
        (-6.49264E5 +e* (-1.344904E7 +e* (-1.4121492E8 +e* (-8.344518E8 +e* (-2.9526756E9 +e*
        (-6.49588632E9 +e* (-9.0751353E9 +e* (-8.1198579E9 +e* (-4.6399188E9 +e* (-1.6689036E9
        +e* (-3.67158792E8 +e* (-4.707164E7 +e* (-3.24632E6 +e* (-1.0472E5 +e* (-1.19E3-2.0*
        e)))))))))))))))))* q))))))))))))))))
    )
    b = _INV_SQRT_2PI * math.exp(-0.5 * (h * h + t * t)) * (t / r) * asum
    return abs(max(b, 0.0))


@njit(**_JIT)
def _small_t_black(h, t):
    a = 1.0 + h * (0.5 * _SQRT_2PI) * erfcx(-_INV_SQRT2 * h)
    w = t * t
    h2 = h * h
    expansion = (
        2* t* (a +w* ((-1 +3* a +a* h2)/6 +w* ((-7 +15* a +h2* (-1 +10* a +a* h2))/120 +w* ((-57
        +105* a +h2* (-18 +105* a +h2* (-1 +21* a +a* h2)))/5040 +w* ((-561 +945* a +h2* (-285
        +1260* a +h2* (-33 +378* a +h2* (-1 +36* a +a* h2))))/362880 +w* ((-6555 +10395* a +h2*
        (-4680 +17325* a +h2* (-840 +6930* a +h2* (-52 +990* a +h2* (-1 +55* a +a*
        h2)))))/39916800 +((-89055 +135135* a +h2* (-82845 +270270* a +h2* (-20370 +135135* a
        +h2* (-1926 +25740* a +h2* (-75 +2145* a +h2* (-1 +78* a +a* h2))))))*
        w)/6227020800.0))))))
    )
    b = _INV_SQRT_2PI * math.exp(-0.5 * (h * h + t * t)) * expansion
    return abs(max(b, 0.0))


@njit(inline="always", **_JIT)
def normalised_black_call(x: float, s: float) -> float:
    """b(x, s) = Phi(x/s + s/2) e^{x/2} - Phi(x/s - s/2) e^{-x/2}, full relative accuracy.

    Tested: test_lbr.py::test_normalised_black_matches_mpmath_free_reference.
    """
    intrinsic = 0.0
    if x > 0.0:
        intrinsic = _normalised_intrinsic(x, 1.0)
        x = -x
    if s <= 0.0:
        return intrinsic
    if x < s * _ASYMPTOTIC_THRESHOLD and (0.5 * s * s + x
                                           < s * (_SMALL_T_THRESHOLD + _ASYMPTOTIC_THRESHOLD)):
        return intrinsic + _asymptotic_black(x / s, 0.5 * s)
    if 0.5 * s < _SMALL_T_THRESHOLD:
        return intrinsic + _small_t_black(x / s, 0.5 * s)
    if x + 0.5 * s * s > s * 0.85:
        h = x / s
        t = 0.5 * s
        b_max = math.exp(0.5 * x)
        b = norm_cdf(h + t) * b_max - norm_cdf(h - t) / b_max
        return intrinsic + abs(max(b, 0.0))
    h = x / s
    t = 0.5 * s
    b = 0.5 * math.exp(-0.5 * (h * h + t * t)) * (erfcx(-_INV_SQRT2 * (h + t))
                                                   - erfcx(-_INV_SQRT2 * (h - t)))
    return intrinsic + abs(max(b, 0.0))


@njit(inline="always", **_JIT)
def normalised_vega(x: float, s: float) -> float:
    """db/ds of the normalised Black function."""
    ax = abs(x)
    if ax <= 0.0:
        return _INV_SQRT_2PI * math.exp(-0.125 * s * s)
    if s <= 0.0 or s <= ax * _SQRT_DBL_MIN:
        return 0.0
    return _INV_SQRT_2PI * math.exp(-0.5 * ((x / s) ** 2 + (0.5 * s) ** 2))


@njit(inline="always", **_JIT)
def _householder(newton, halley, hh3):
    return (1.0 + 0.5 * halley * newton) / (1.0 + newton * (halley + hh3 * newton / 6.0))


@njit(inline="always", **_JIT)
def _f_lower_map(x, s):
    ax = abs(x)
    z = _SQRT_1_OVER_3 * ax / s
    y = z * z
    s2 = s * s
    phi_m = norm_cdf(-z)
    phi = norm_pdf(z)
    fpp = (_PI_OVER_6 * y / (s2 * s) * phi_m
           * (8.0 * _SQRT3 * s * ax + (3.0 * s2 * (s2 - 8.0) - 8.0 * x * x) * phi_m / phi)
           * math.exp(2.0 * y + 0.25 * s2))
    phi_m2 = phi_m * phi_m
    fp = _TWO_PI * y * phi_m2 * math.exp(y + 0.125 * s * s)
    f = _TWO_PI_OVER_SQRT27 * ax * (phi_m2 * phi_m)
    return f, fp, fpp


@njit(inline="always", **_JIT)
def _inverse_f_lower_map(x, f):
    if f <= 0.0:
        return 0.0
    return abs(x / (_SQRT3 * inv_norm_cdf((f / (_TWO_PI_OVER_SQRT27 * abs(x))) ** (1.0 / 3.0))))


@njit(inline="always", **_JIT)
def _f_upper_map(x, s):
    f = norm_cdf(-0.5 * s)
    if x == 0.0:
        return f, -0.5, 0.0
    w = (x / s) ** 2
    fp = -0.5 * math.exp(0.5 * w)
    fpp = _SQRT_PI_OVER_2 * math.exp(w + 0.125 * s * s) * w / s
    return f, fp, fpp


@njit(**_JIT)
def normalised_implied_vol(beta: float, x: float) -> float:
    """Normalised vol s with b(x, s) = beta for an out-of-the-money call (x <= 0).

    beta is the normalised time value in (0, e^{x/2}).  Returns 0 for beta <= 0 and +inf for
    beta >= e^{x/2}.  Tested: test_lbr.py::test_normalised_round_trip_extreme_grid.
    """
    if beta <= 0.0:
        return 0.0
    b_max = math.exp(0.5 * x)
    if beta >= b_max:
        return math.inf
    iterations = 0
    reversals = 0
    f = -_DBL_MAX
    s = -_DBL_MAX
    ds = s
    ds_prev = 0.0
    s_left = _DBL_MIN
    s_right = _DBL_MAX
    s_c = math.sqrt(abs(2.0 * x))
    b_c = normalised_black_call(x, s_c)
    v_c = normalised_vega(x, s_c)
    segment = 1  # 0 lowest, 1 middle (objective b - beta), 2 highest
    if beta < b_c:
        s_l = s_c - b_c / v_c
        b_l = normalised_black_call(x, s_l)
        if beta < b_l:
            f_l, df_l, d2f_l = _f_lower_map(x, s_l)
            r_ll = _rc_param_right(0.0, b_l, 0.0, f_l, 1.0, df_l, d2f_l, True)
            f = _rc_interp(beta, 0.0, b_l, 0.0, f_l, 1.0, df_l, r_ll)
            if not f > 0.0:
                t = beta / b_l
                f = (f_l * t + b_l * (1.0 - t)) * t
            s = _inverse_f_lower_map(x, f)
            s_right = s_l
            segment = 0
        else:
            v_l = normalised_vega(x, s_l)
            r_lm = _rc_param_right(b_l, b_c, s_l, s_c, 1.0 / v_l, 1.0 / v_c, 0.0, False)
            s = _rc_interp(beta, b_l, b_c, s_l, s_c, 1.0 / v_l, 1.0 / v_c, r_lm)
            s_left = s_l
            s_right = s_c
    else:
        s_h = s_c + (b_max - b_c) / v_c if v_c > _DBL_MIN else s_c
        b_h = normalised_black_call(x, s_h)
        if beta <= b_h:
            v_h = normalised_vega(x, s_h)
            r_hm = _rc_param_left(b_c, b_h, s_c, s_h, 1.0 / v_c, 1.0 / v_h, 0.0, False)
            s = _rc_interp(beta, b_c, b_h, s_c, s_h, 1.0 / v_c, 1.0 / v_h, r_hm)
            s_left = s_c
            s_right = s_h
        else:
            f_h, df_h, d2f_h = _f_upper_map(x, s_h)
            if d2f_h > -math.sqrt(_DBL_MAX) and d2f_h < math.sqrt(_DBL_MAX):
                r_hh = _rc_param_left(b_h, b_max, f_h, 0.0, df_h, -0.5, d2f_h, True)
                f = _rc_interp(beta, b_h, b_max, f_h, 0.0, df_h, -0.5, r_hh)
            if f <= 0.0:
                h = b_max - b_h
                t = (beta - b_h) / h
                f = (f_h * (1.0 - t) + 0.5 * h * t) * (1.0 - t)
            s = -2.0 * inv_norm_cdf(f)
            s_left = s_h
            if beta > 0.5 * b_max:
                segment = 2
    ln_beta = math.log(beta)
    while iterations < _MAX_ITER and abs(ds) > _DBL_EPS * s:
        if ds * ds_prev < 0.0:
            reversals += 1
        if iterations > 0 and (reversals == 3 or not (s > s_left and s < s_right)):
            # Inefficient looping or a step onto/outside the bracket: bisect instead.
            s = 0.5 * (s_left + s_right)
            if s_right - s_left <= _DBL_EPS * s:
                break
            reversals = 0
            ds = 0.0
        ds_prev = ds
        b = normalised_black_call(x, s)
        bp = normalised_vega(x, s)
        if b > beta and s < s_right:
            s_right = s
        elif b < beta and s > s_left:
            s_left = s
        if segment == 0:
            if b <= 0.0 or bp <= 0.0:
                ds = 0.5 * (s_left + s_right) - s
            else:
                ln_b = math.log(b)
                bpob = bp / b
                h = x / s
                b_halley = h * h / s - s / 4.0
                newton = (ln_beta - ln_b) * ln_b / ln_beta / bpob
                halley = b_halley - bpob * (1.0 + 2.0 / ln_b)
                b_hh3 = b_halley * b_halley - 3.0 * (h / s) ** 2 - 0.25
                hh3 = (b_hh3 + 2.0 * bpob * bpob * (1.0 + 3.0 / ln_b * (1.0 + 1.0 / ln_b))
                       - 3.0 * b_halley * bpob * (1.0 + 2.0 / ln_b))
                ds = newton * _householder(newton, halley, hh3)
        elif segment == 2:
            if b >= b_max or bp <= _DBL_MIN:
                ds = 0.5 * (s_left + s_right) - s
            else:
                b_max_minus_b = b_max - b
                g = math.log((b_max - beta) / b_max_minus_b)
                gp = bp / b_max_minus_b
                b_halley = (x / s) ** 2 / s - s / 4.0
                b_hh3 = b_halley * b_halley - 3.0 * (x / (s * s)) ** 2 - 0.25
                newton = -g / gp
                halley = b_halley + gp
                hh3 = b_hh3 + gp * (2.0 * gp + 3.0 * b_halley)
                ds = newton * _householder(newton, halley, hh3)
        else:
            if bp <= 0.0:
                ds = 0.5 * (s_left + s_right) - s
            else:
                newton = (beta - b) / bp
                halley = (x / s) ** 2 / s - s / 4.0
                hh3 = halley * halley - 3.0 * (x / (s * s)) ** 2 - 0.25
                ds = newton * _householder(newton, halley, hh3)
        ds = max(-0.5 * s, ds)
        s += ds
        iterations += 1
    return s


@njit(**_JIT)
def euro_iv_kernel(p: np.ndarray, s: np.ndarray, k: np.ndarray, t: np.ndarray,
                   r: np.ndarray, q: np.ndarray, cp: np.ndarray, b76: bool,
                   vol_out: np.ndarray, err_out: np.ndarray) -> None:
    """European implied vol (annualised) per row by Let's Be Rational; err per IvError.

    Black-76 (b76) takes s as the futures price.  Tested: test_lbr.py (QuantLib and
    lets_be_rational comparisons, round trips, error codes).
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
        tol = 8.0 * _DBL_EPS * intrinsic
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
