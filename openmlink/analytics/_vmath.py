"""Branch-free exp, log and normal CDF that LLVM vectorises (AVX2/AVX-512) inside Numba loops.

``math.exp``/``math.log``/``math.erfc`` compile to scalar libm calls, so a loop calling them
runs one row at a time.  These versions use only arithmetic, FMA, bit casts and selects (no
calls, no branches that the loop vectoriser cannot if-convert), so a row loop built from them is
vectorised by LLVM.  They are for the row kernels' hot loops; the scalar helpers in ``_normal``
remain for everything else.

Accuracy (tested against mpmath in tests/analytics/test_vmath.py):
- ``exp_v``: about 1 ulp (Cody-Waite reduction by ln 2, degree-13 Taylor polynomial, 2^n
  built from bits in two factors so that subnormal results are right); NaN in, NaN out;
  +inf for x > 709.78, 0 below the subnormal range.
- ``log_v``: about 1 ulp (fdlibm's e_log.c polynomial); positive normal x only (callers send
  other rows to a scalar path).
- ``norm_cdf_v``: a few ulp relative over the whole line, both tails included: W. J. Cody's
  rational approximations (Math. Comp. 1969) for erf on |x|/sqrt2 <= 0.46875 and for
  erfcx = exp(y^2) erfc(y) above, all three evaluated and the right one selected per lane; the
  factor exp(-x^2/2) takes x^2 as an exact FMA pair (h + l), so a far-tail value such as
  Phi(-37) keeps full relative accuracy (``scipy.special.ndtr`` rounds x/sqrt2 first and loses
  up to ~1e-13 there).  ``norm_cdf_e`` takes that factor from the caller (shared with the
  density phi(x) = exp(-x^2/2)/sqrt(2 pi)).

Numba's cache of a kernel that inlines these checks the kernel's own file only: after a change
here, touch ``_black.py`` (and ``_quote_rows.py``) or clear __pycache__/*.nbi, *.nbc.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from llvmlite import ir  # type: ignore[import-untyped]
from numba import njit, types
from numba.extending import intrinsic

from ._jit import JitOptions

__all__ = ["exp_half_sq", "exp_v", "fma", "log_v", "norm_cdf_e", "norm_cdf_v"]

_JIT: JitOptions = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy",
                    "inline": "always"}


@intrinsic
def _f2i_intr(typingctx, x):  # type: ignore[no-untyped-def]
    """Bits of a float64 as int64 (an LLVM bitcast: vectorisable, no memory)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def _i2f_intr(typingctx, x):  # type: ignore[no-untyped-def]
    """float64 with the given int64 bits."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def _fma_intr(typingctx, x, y, z):  # type: ignore[no-untyped-def]
    """x*y + z rounded once (llvm.fma.f64: the FMA instruction, or a correct libm fallback)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.fma(args[0], args[1], args[2])

    return sig, codegen


# the same objects, typed for the checker (Numba resolves the globals to the intrinsics)
_f2i = cast(Callable[[float], int], _f2i_intr)
_i2f = cast(Callable[[int], float], _i2f_intr)
_fma = cast(Callable[[float, float, float], float], _fma_intr)


@njit(**_JIT)
def fma(x: float, y: float, z: float) -> float:
    """x*y + z with one rounding."""
    return _fma(x, y, z)


_LOG2E = 1.4426950408889634074
_SHIFT = 6755399441055744.0  # 1.5 * 2^52: x + SHIFT rounds x to an integer kept in the low bits
_SHIFT_BITS = 0x4338000000000000
_LN2_HI = 6.93147180369123816490e-01  # 32 significant bits: n * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_EXP_LO = -1400.0  # below: 0 (two factors 2^n1 2^n2 stay normal down to 2^-2044)
_EXP_HI = 710.0  # above: +inf
_X_MAX = 40.0  # |x| beyond: Phi is exactly 0 or 1 and exp(-x^2/2) is 0 in float64
# 1/j! for j = 13 .. 0 (Taylor: the remainder on |r| <= ln2/2 is < 5e-18 relative)
_E13, _E12, _E11, _E10 = 1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0
_E9, _E8, _E7, _E6 = 1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0
_E5, _E4, _E3, _E2 = 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5


@njit(**_JIT)
def exp_v(x: float) -> float:
    """e^x, vectorisable; about 1 ulp."""
    x = _EXP_LO if x < _EXP_LO else x  # (comparisons keep NaN)
    x = _EXP_HI if x > _EXP_HI else x
    kd = _fma(x, _LOG2E, _SHIFT)
    n = kd - _SHIFT
    ki = _f2i(kd) - _SHIFT_BITS
    r = _fma(-n, _LN2_HI, x)
    r = _fma(-n, _LN2_LO, r)
    p = _fma(r, _E13, _E12)
    p = _fma(p, r, _E11)
    p = _fma(p, r, _E10)
    p = _fma(p, r, _E9)
    p = _fma(p, r, _E8)
    p = _fma(p, r, _E7)
    p = _fma(p, r, _E6)
    p = _fma(p, r, _E5)
    p = _fma(p, r, _E4)
    p = _fma(p, r, _E3)
    p = _fma(p, r, _E2)
    p = _fma(p, r * r, r) + 1.0
    n1 = ki >> 1
    n2 = ki - n1
    return p * _i2f((n1 + 1023) << 52) * _i2f((n2 + 1023) << 52)


@njit(**_JIT)
def exp_half_sq(x: float) -> float:
    """exp(-x^2/2) with x^2 taken exactly (h + l by FMA): relative accuracy ~1 ulp even where
    x^2/2 is large (a rounded x^2 would cost x^2 * 1.1e-16 relative); 0 for |x| > 40 (an
    infinite x^2 would make the FMA pair NaN)."""
    x = -_X_MAX if x < -_X_MAX else x
    x = _X_MAX if x > _X_MAX else x
    h = x * x
    lo = _fma(x, x, -h)
    return exp_v(-0.5 * h) * (1.0 - 0.5 * lo)


_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD  # sqrt(0.5): the mantissa is reduced into [sqrt.5, sqrt2)
_MANT_MASK = 0x000FFFFFFFFFFFFF
_LG1, _LG2, _LG3 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01
_LG4, _LG5, _LG6 = 2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01


@njit(**_JIT)
def log_v(x: float) -> float:
    """Natural log of a positive normal float64, vectorisable; about 1 ulp (fdlibm e_log.c).
    Other inputs (<= 0, subnormal, inf, NaN) give unspecified values: check them apart."""
    ix = _f2i(x)
    tmp = ix - _SQRT_HALF_BITS
    k = tmp >> 52
    z = _i2f(ix - (k << 52))  # in [sqrt(0.5), sqrt(2))
    f = z - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    zz = s * s
    w = zz * zz
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = zz * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    rr = t2 + t1
    dk = float(k)
    return dk * _LN2_HI - ((hfsq - (s * (hfsq + rr) + dk * _LN2_LO)) - f)


# Cody 1969 (as in CALERF): erf(y) = y P(y^2)/Q(y^2) for |y| <= 0.46875,
_A0, _A1, _A2 = 3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02
_A3, _A4 = 3.20937758913846947e03, 1.85777706184603153e-1
_B0, _B1, _B2, _B3 = 2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, \
    2.84423683343917062e03
# erfcx(y) = P(y)/Q(y) for 0.46875 < y <= 4,
_C0, _C1, _C2 = 5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01
_C3, _C4, _C5 = 2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03
_C6, _C7, _C8 = 2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8
_D0, _D1, _D2 = 1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02
_D3, _D4, _D5 = 1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03
_D6, _D7 = 3.43936767414372164e03, 1.23033935480374942e03
# and erfcx(y) = (1/sqrt(pi) - u P(u)/Q(u)) / y with u = 1/y^2 above 4.
_P0, _P1, _P2 = 3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1
_P3, _P4, _P5 = 1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2
_Q0, _Q1, _Q2 = 2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1
_Q3, _Q4 = 6.05183413124413191e-2, 2.33520497626869185e-3
_SQRPI = 5.6418958354775628695e-1
_INV_SQRT2 = 0.7071067811865475244


@njit(**_JIT)
def norm_cdf_e(x: float, e: float) -> float:
    """Phi(x) given e = exp(-x^2/2) (``exp_half_sq(x)``); branch-free, NaN in -> NaN out.

    Each of Cody's three rationals is evaluated as a numerator and a denominator (the y > 4
    one as polynomials in z = y^2 rather than 1/y^2), the lane's pair is selected and divided
    once: divisions, not multiplications, bound the vector loop's speed.
    """
    x = -_X_MAX if x < -_X_MAX else x
    x = _X_MAX if x > _X_MAX else x
    y = abs(x) * _INV_SQRT2
    # |y| <= 0.46875: Phi = (1 + erf(x/sqrt2)) / 2, erf(u) = u P(u^2) / Q(u^2)
    u = x * _INV_SQRT2
    z = u * u
    n0 = u * _fma(_fma(_fma(_fma(_A4, z, _A0), z, _A1), z, _A2), z, _A3)
    d0 = _fma(_fma(_fma(z + _B0, z, _B1), z, _B2), z, _B3)
    # 0.46875 < y <= 4: erfcx(y) = P(y) / Q(y)
    y1 = 4.0 if y > 4.0 else y
    n1 = _fma(_C8, y1, _C0)
    d1 = y1 + _D0
    n1 = _fma(n1, y1, _C1)
    d1 = _fma(d1, y1, _D1)
    n1 = _fma(n1, y1, _C2)
    d1 = _fma(d1, y1, _D2)
    n1 = _fma(n1, y1, _C3)
    d1 = _fma(d1, y1, _D3)
    n1 = _fma(n1, y1, _C4)
    d1 = _fma(d1, y1, _D4)
    n1 = _fma(n1, y1, _C5)
    d1 = _fma(d1, y1, _D5)
    n1 = _fma(n1, y1, _C6)
    d1 = _fma(d1, y1, _D6)
    n1 = _fma(n1, y1, _C7)
    d1 = _fma(d1, y1, _D7)
    # y > 4: erfcx(y) = (1/sqrt(pi) - w P(w)/Q(w)) / y, w = 1/y^2; with P, Q times z^5 (z = y^2)
    # w P/Q = N(z) / (z D(z)), so erfcx = (z D/sqrt(pi) - N) / (y z D)
    y2 = 4.0 if y < 4.0 else y
    z2 = y2 * y2
    n2 = _fma(_fma(_fma(_fma(_fma(_P4, z2, _P3), z2, _P2), z2, _P1), z2, _P0), z2, _P5)
    d2 = _fma(_fma(_fma(_fma(_fma(_Q4, z2, _Q3), z2, _Q2), z2, _Q1), z2, _Q0), z2, 1.0)
    zd = z2 * d2
    n2 = _fma(zd, _SQRPI, -n2)
    d2 = zd * y2
    small = y <= 0.46875
    num = n0 if small else (n1 if y <= 4.0 else n2)
    den = d0 if small else (d1 if y <= 4.0 else d2)
    ratio = num / den
    half_erfc = 0.5 * e * ratio  # erfc(y)/2 = Phi(-|x|)
    tail = half_erfc if x < 0.0 else 1.0 - half_erfc
    return 0.5 + 0.5 * ratio if small else tail


@njit(**_JIT)
def norm_cdf_v(x: float) -> float:
    """Standard normal distribution Phi(x), vectorisable; a few ulp relative in both tails."""
    return norm_cdf_e(x, exp_half_sq(x))
