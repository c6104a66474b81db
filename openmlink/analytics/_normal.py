"""Scalar normal-distribution helpers compiled with Numba (inlined into the kernels).

All functions take and return float64 and are accurate to a few ulp in relative terms,
including the far tails (needed by the implied-vol solver).
"""

from __future__ import annotations

import math

from numba import njit

from ._jit import JitOptions

__all__ = ["erfcx", "inv_norm_cdf", "norm_cdf", "norm_pdf"]

_INV_SQRT_2PI = 0.3989422804014326779399460599343818684758586311649
_INV_SQRT2 = 0.7071067811865475244008443621048490392848359376887
_JIT: JitOptions = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy",
                    "inline": "always"}


@njit(**_JIT)
def norm_pdf(x: float) -> float:
    """Standard normal density phi(x)."""
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


@njit(**_JIT)
def norm_cdf(x: float) -> float:
    """Standard normal distribution Phi(x) = erfc(-x/sqrt2)/2 (relative accuracy in both tails)."""
    return 0.5 * math.erfc(-x * _INV_SQRT2)


# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 1969:
# coefficients for erfcx(y) = exp(y^2) erfc(y) on 0.46875 < y <= 4 and y > 4.
_C0, _C1, _C2, _C3 = 0.564188496988670089, 8.88314979438837594, 66.1191906371416295, 298.635138197400131
_C4, _C5, _C6, _C7 = 881.95222124176909, 1712.04761263407058, 2051.07837782607147, 1230.33935479799725
_C8 = 2.15311535474403846e-8
_D0, _D1, _D2, _D3 = 15.7449261107098347, 117.693950891312499, 537.181101862009858, 1621.38957456669019
_D4, _D5, _D6, _D7 = 3290.79923573345963, 4362.61909014324716, 3439.36767414372164, 1230.33935480374942
_P0, _P1, _P2 = 0.305326634961232344, 0.360344899949804439, 0.125781726111229246
_P3, _P4, _P5 = 0.0160837851487422766, 6.58749161529837803e-4, 0.0163153871373020978
_Q0, _Q1, _Q2 = 2.56852019228982242, 1.87295284992346047, 0.527905102951428412
_Q3, _Q4 = 0.0605183413124413191, 0.00233520497626869185
_SQRPI = 0.56418958354775628695


@njit(**_JIT)
def erfcx(x: float) -> float:
    """Scaled complementary error function exp(x^2)*erfc(x) (Cody 1969 for x > 0.46875)."""
    y = abs(x)
    if y <= 0.46875:
        return math.exp(x * x) * math.erfc(x)
    if y <= 4.0:
        num = _C8 * y
        den = y
        num = (num + _C0) * y
        den = (den + _D0) * y
        num = (num + _C1) * y
        den = (den + _D1) * y
        num = (num + _C2) * y
        den = (den + _D2) * y
        num = (num + _C3) * y
        den = (den + _D3) * y
        num = (num + _C4) * y
        den = (den + _D4) * y
        num = (num + _C5) * y
        den = (den + _D5) * y
        num = (num + _C6) * y
        den = (den + _D6) * y
        res = (num + _C7) / (den + _D7)
    elif y >= 6.71e7:
        res = _SQRPI / y
    else:
        ysq = 1.0 / (y * y)
        num = _P5 * ysq
        den = ysq
        num = (num + _P0) * ysq
        den = (den + _Q0) * ysq
        num = (num + _P1) * ysq
        den = (den + _Q1) * ysq
        num = (num + _P2) * ysq
        den = (den + _Q2) * ysq
        num = (num + _P3) * ysq
        den = (den + _Q3) * ysq
        res = ysq * (num + _P4) / (den + _Q4)
        res = (_SQRPI - res) / y
    if x < 0.0:
        if x < -26.628:
            return math.inf
        ysq = math.trunc(x * 16.0) / 16.0
        dl = (x - ysq) * (x + ysq)
        e = math.exp(ysq * ysq) * math.exp(dl)
        res = e + e - res
    return res


# Wichura, algorithm AS241 (Appl. Statist. 1988), PPND16: about 1e-16 relative accuracy.
_A = (3.3871328727963666080, 1.3314166789178437745e2, 1.9715909503065514427e3,
      1.3731693765509461125e4, 4.5921953931549871457e4, 6.7265770927008700853e4,
      3.3430575583588128105e4, 2.5090809287301226727e3)
_B = (1.0, 4.2313330701600911252e1, 6.8718700749205790830e2, 5.3941960214247511077e3,
      2.1213794301586595867e4, 3.9307895800092710610e4, 2.8729085735721942674e4,
      5.2264952788528545610e3)
_C = (1.42343711074968357734, 4.63033784615654529590, 5.76949722146069140550,
      3.64784832476320460504, 1.27045825245236838258, 2.41780725177450611770e-1,
      2.27238449892691845833e-2, 7.74545014278341407640e-4)
_D = (1.0, 2.05319162663775882187, 1.67638483018380384940, 6.89767334985100004550e-1,
      1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4,
      1.05075007164441684324e-9)
_E = (6.65790464350110377720, 5.46378491116411436990, 1.78482653991729133580,
      2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
      2.71155556874348757815e-5, 2.01033439929228813265e-7)
_F = (1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
      7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7,
      2.04426310338993978564e-15)


@njit(**_JIT)
def _poly8(c: tuple, x: float) -> float:
    return (((((((c[7] * x + c[6]) * x + c[5]) * x + c[4]) * x + c[3]) * x + c[2]) * x
             + c[1]) * x + c[0])


@njit(**_JIT)
def inv_norm_cdf(u: float) -> float:
    """Inverse of Phi (AS241); returns -inf/+inf at u <= 0 / u >= 1."""
    if u <= 0.0:
        return -math.inf
    if u >= 1.0:
        return math.inf
    q = u - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        return q * _poly8(_A, r) / _poly8(_B, r)
    r = u if q < 0.0 else 1.0 - u
    r = math.sqrt(-math.log(r))
    if r < 5.0:
        r -= 1.6
        ret = _poly8(_C, r) / _poly8(_D, r)
    else:
        r -= 5.0
        ret = _poly8(_E, r) / _poly8(_F, r)
    return -ret if q < 0.0 else ret
