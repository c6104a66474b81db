"""Vectorisable exp/log/normal CDF (``_vmath``) against mpmath, and the vectorised European
row kernels against their libm path (the one-row code they replaced)."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numba import njit
from scipy.special import ndtr

from openmlink.analytics._black import _scalar_row, euro_price_kernel, euro_rows_kernel
from openmlink.analytics._vmath import exp_v, log_v, norm_cdf_v

mp.mp.dps = 40
_ULP = 2.0**-52
_TINY = 2.2250738585072014e-308


@njit(cache=False)
def _exp(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = exp_v(x[i])
    return out


@njit(cache=False)
def _log(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = log_v(x[i])
    return out


@njit(cache=False)
def _cdf(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = norm_cdf_v(x[i])
    return out


def _rel(got: float, ref: mp.mpf) -> float:
    return float(abs(mp.mpf(got) - ref) / abs(ref))


@settings(max_examples=400, deadline=None)
@given(st.floats(-708.0, 709.7))
@example(0.0).via("exact")
@example(-0.5 * math.log(2.0)).via("reduction boundary")
def test_exp_is_within_two_ulp_of_mpmath(x: float) -> None:
    assert _rel(float(_exp(np.array([x]))[0]), mp.exp(mp.mpf(x))) <= 2 * _ULP


def test_exp_limits_subnormals_and_nan() -> None:
    x = np.array([-np.inf, -1e6, -1400.0, -745.2, -740.0, 709.8, 710.0, 1e6, np.inf, np.nan])
    got = _exp(x)
    assert got[0] == got[1] == got[2] == 0.0
    assert got[3] == math.exp(-745.2) and got[4] == pytest.approx(math.exp(-740.0), rel=1e-12)
    assert np.isposinf(got[5:9]).all() and np.isnan(got[9])


@settings(max_examples=400, deadline=None)
@given(st.floats(_TINY, 1.7e308))
@example(1.0).via("log 1 = 0")
@example(math.sqrt(0.5)).via("mantissa reduction boundary")
def test_log_is_within_two_ulp_of_mpmath(x: float) -> None:
    got = float(_log(np.array([x]))[0])
    ref = mp.log(mp.mpf(x))
    if x == 1.0:
        assert got == 0.0
    else:
        assert float(abs(mp.mpf(got) - ref)) <= 2 * _ULP * max(float(abs(ref)), 1e-300)


@settings(max_examples=500, deadline=None)
@given(st.floats(-37.5, 9.0))
@example(-37.0).via("far tail: scipy's ndtr is off by 2e-13 here")
@example(-0.6629126073623883).via("erf / erfc boundary |x|/sqrt2 = 0.46875")
@example(-5.656854249492381).via("Cody's y = 4 boundary")
def test_normal_cdf_relative_accuracy_in_both_tails(x: float) -> None:
    ref = mp.ncdf(mp.mpf(x))
    assert _rel(float(_cdf(np.array([x]))[0]), ref) <= 4 * _ULP


def test_normal_cdf_far_tail_beats_scipy_and_special_values() -> None:
    x = np.linspace(-37.5, -20.0, 200)
    ref = np.array([float(mp.ncdf(mp.mpf(v))) for v in x])
    ours = np.max(np.abs(_cdf(x) / ref - 1))
    assert ours <= 4 * _ULP < np.max(np.abs(ndtr(x) / ref - 1))
    got = _cdf(np.array([np.nan, -np.inf, np.inf, -1e300, 1e300, -39.0, 40.0, 0.0]))
    assert np.isnan(got[0])
    np.testing.assert_array_equal(got[1:], [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.5])


@njit(cache=False)
def _libm_rows(s, k, t, r, q, vol, cp, b76, moves, out):  # type: ignore[no-untyped-def]
    lm = np.empty(moves.shape[0])
    for j in range(moves.shape[0]):
        lm[j] = math.log1p(moves[j])
    for i in range(s.shape[0]):
        qi = r[i] if b76 else q[i]
        _scalar_row(s[i], k[i], t[i], r[i], qi, vol[i], cp[i], b76, moves, lm, out, i)


def _scales(s, k, t, r, q, vol, cp, b76, moves) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Per output, the size of the terms it is computed from times (1 + A^2), where A bounds
    |d1|, |d2| by the sizes of their parts (the normal CDF's relative sensitivity to the
    absolute rounding of d): the scale of what double arithmetic can promise."""
    q = r if b76 else q
    sqt = np.sqrt(t)
    sd = vol * sqt
    d1 = (np.log(s / k) + (r - q) * t) / sd + 0.5 * sd
    d2 = d1 - sd
    dq, dr = np.exp(-q * t), np.exp(-r * t)
    sdq, kdr = s * dq, k * dr
    n1, n2 = ndtr(cp * d1), ndtr(cp * d2)
    pdf = np.exp(-0.5 * d1 * d1) / np.sqrt(2 * np.pi)
    vega = sdq * pdf * sqt
    ad = (np.abs(np.log(s / k)) + np.abs((r - q) * t)) / sd + sd
    rho, phi = k * t * dr * n2, s * t * dq * n1
    sc = [sdq * n1 + kdr * n2, dq * n1, dq * pdf / (s * sd),
          (sdq * pdf * vol / (2 * sqt) + np.abs(r) * kdr * n2 + np.abs(q) * sdq * n1) / 365,
          vega / 100, dq * pdf * ad / vol / 100, vega * ad * (np.abs(d1) + np.abs(d2)) / vol / 1e4,
          (rho + phi) / 100 if b76 else rho / 100, 0 * phi if b76 else phi / 100,
          (np.abs(q) * dq * n1 + dq * pdf * (2 * np.abs(r - q) * t + ad * sd) / (2 * t * sd)) / 365]
    amp = [1 + ad * ad] * 10
    for m in moves:
        e1 = d1 + np.log1p(m) / sd
        sc.append(sdq * (1 + m) * ndtr(cp * e1) + kdr * ndtr(cp * (e1 - sd)) + sc[0])
        ae = ad + abs(np.log1p(m)) / sd
        amp.append(1 + ae * ae)
    return np.array(sc) * np.array(amp)


_MOVES = np.array([0.5, -0.5, 0.15, -0.15, 0.06, -0.08])


def _check_rows(s, k, t, r, q, vol, cp, b76) -> None:  # type: ignore[no-untyped-def]
    n = len(s)
    got = np.empty((16, n))
    ref = np.empty((16, n))
    euro_rows_kernel(s, k, t, r, q, vol, cp, b76, _MOVES, got)
    _libm_rows(s, k, t, r, q, vol, cp, b76, _MOVES, ref)
    tol = 1e-14 * _scales(s, k, t, r, q, vol, cp, b76, _MOVES) + 1e-300  # (subnormal results)
    bad = np.abs(got - ref) > tol
    assert not bad.any(), (np.argwhere(bad)[:5], got[bad][:5], ref[bad][:5])
    price = np.empty(n)
    euro_price_kernel(s, k, t, r, q, vol, cp, b76, price)
    np.testing.assert_array_equal(price, got[0])


@pytest.mark.parametrize("b76", [False, True])
def test_vector_rows_equal_libm_rows_to_1e14_on_a_wide_grid(b76: bool) -> None:
    rng = np.random.default_rng(5)
    n = 100_000
    s = 100 * np.exp(rng.uniform(-2, 2, n))
    t = np.exp(rng.uniform(np.log(1 / 365 / 24), np.log(30), n))
    vol = np.exp(rng.uniform(np.log(0.005), np.log(5), n))
    _check_rows(s, np.full(n, 100.0), t, rng.uniform(-0.02, 0.15, n), rng.uniform(-0.05, 0.1, n),
                vol, np.where(rng.random(n) < 0.5, 1.0, -1.0), b76)


finite = {"allow_nan": False, "allow_infinity": False}


@settings(max_examples=300, deadline=None)
@given(s=st.floats(1e-3, 1e6, **finite), k=st.floats(1e-3, 1e6, **finite),
       t=st.floats(1e-6, 50, **finite), r=st.floats(-0.1, 0.5, **finite),
       q=st.floats(-0.1, 0.5, **finite), vol=st.floats(1e-4, 10, **finite),
       cp=st.sampled_from([1.0, -1.0]), b76=st.booleans())
def test_vector_rows_equal_libm_rows_property(s: float, k: float, t: float, r: float, q: float,
                                              vol: float, cp: float, b76: bool) -> None:
    a = [np.array([x]) for x in (s, k, t, r, q, vol, cp)]
    _check_rows(*a, b76)


def test_rows_the_vector_loop_refuses_keep_their_values() -> None:
    # NaN/invalid inputs -> NaN everywhere; expiry and zero vol -> intrinsic; S/K not normal
    s = np.array([np.nan, 100.0, 100.0, 110.0, 110.0, 1e300, 100.0, 100.0, 110.0])
    k = np.array([100.0, -1.0, 100.0, 100.0, 100.0, 1e-10, 100.0, 100.0, 100.0])
    t = np.array([1.0, 1.0, np.inf, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    vol = np.array([0.2, 0.2, 0.2, 0.2, 0.0, 0.2, 0.2, 0.2, 1e-200])
    cp = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, -1.0, 1.0])
    z = np.zeros(9)
    got = np.empty((16, 9))
    euro_rows_kernel(s, k, t, z, z, vol, cp, False, _MOVES, got)
    assert np.isnan(got[:, [0, 1, 2, 6]]).all()
    assert got[0, 3] == got[0, 4] == pytest.approx(10.0) and got[1, 3] == 1.0
    assert got[0, 5] == pytest.approx(1e300) and np.isfinite(got[:, 7]).all()
    # a vol so small that d1^2 overflows: the vector loop's values, as the libm row's
    ref = np.empty((16, 1))
    _libm_rows(s[8:], k[8:], t[8:], z[8:], z[8:], vol[8:], cp[8:], False, _MOVES, ref)
    np.testing.assert_array_equal(got[:, 8], ref[:, 0])
    assert got[0, 8] == 10.0 and got[2, 8] == 0.0


def test_row_kernel_loops_are_vectorised() -> None:
    """The point of ``_vmath``: LLVM turns the row loops into vector code (a libm call, an
    early exit or one runtime alias check too many makes it silently scalar again)."""
    n = 64
    a = [np.full(n, 1.0) for _ in range(7)]
    out = np.empty((16, n))
    # fresh uncached compilations of the same code (cached code cannot be inspected)
    rows = njit(cache=False, nogil=True, error_model="numpy")(euro_rows_kernel.py_func)
    prices = njit(cache=False, nogil=True, error_model="numpy")(euro_price_kernel.py_func)
    rows(*a, False, _MOVES, out)
    prices(*a, False, out[0])
    for fn in (rows, prices):
        ir = "\n".join(fn.inspect_llvm().values())
        assert "vector.body" in ir and "x double>" in ir, fn
