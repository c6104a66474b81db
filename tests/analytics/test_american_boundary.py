"""The vectorised ALO boundary solver (``_american.put_boundary``) against the scalar form it
replaced: the same fixed-point equations node by node (libm exp/Phi, Clenshaw reads of the
boundary), kept here as the reference, in both forms (phi, Phi where the boundary is steep) and
their blend."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numba import njit

from openmlink.analytics._american import (
    _cheb_fit,
    _qdplus_boundary,
    _sqrt_h,
    put_boundary,
    steep_weight,
)
from openmlink.analytics._api import DEFAULT_SCHEME
from openmlink.analytics._normal import norm_cdf, norm_pdf


@njit(cache=False)
def _fp_equation(tau: float, lnbx: float, b: float, k: float, r: float, q: float, vol: float,
                 c: np.ndarray, zrow: np.ndarray, fx: np.ndarray, fw: np.ndarray, form_b: bool
                 ) -> tuple[float, float, float, float, float]:
    sq_tau = math.sqrt(tau)
    v = vol * sq_tau
    stv = sq_tau / vol
    k12 = 0.0
    k3 = 0.0
    for i in range(fx.shape[0]):
        # elapsed m = tau sin^2(th), th = pi (1 + y)/4: dm = (pi/2) tau sin cos dy, and
        # dm / (vol sqrt(m)) = (pi/2) sqrt(tau)/vol cos dy
        th = 0.25 * math.pi * (1.0 + fx[i])
        sn = math.sin(th)
        cs = math.cos(th)
        m = tau * sn * sn
        vm = vol * sq_tau * sn
        dp = (lnbx + _sqrt_h(c, zrow[i]) + (r - q) * m) / vm + 0.5 * vm
        dm = dp - vm
        w1 = 0.5 * math.pi * tau * sn * cs
        w2 = 0.5 * math.pi * stv * cs
        if form_b:
            k12 += fw[i] * math.exp(q * (tau - m)) * w1 * norm_cdf(dp)
            k3 += fw[i] * math.exp(r * (tau - m)) * w1 * norm_cdf(dm)
        else:
            k12 += fw[i] * math.exp(q * (tau - m)) * (w1 * norm_cdf(dp) + w2 * norm_pdf(dp))
            k3 += fw[i] * w2 * math.exp(r * (tau - m)) * norm_pdf(dm)
    dp0 = (math.log(b / k) + (r - q) * tau) / v + 0.5 * v
    dm0 = dp0 - v
    if form_b:
        n_ = norm_cdf(dm0) + r * k3
        d_ = norm_cdf(dp0) + q * k12
    else:
        n_ = norm_pdf(dm0) / v + r * k3
        d_ = norm_pdf(dp0) / v + norm_cdf(dp0) + q * k12
    alpha = k * math.exp(-(r - q) * tau)
    return n_, d_, alpha * n_ / d_, dp0, dm0


@njit(cache=False)
def _scalar_form(r: float, q: float, vol: float, t_years: float, n_nodes: int, m_iter: int,
                 fx: np.ndarray, fw: np.ndarray, fit: np.ndarray, z_nodes: np.ndarray,
                 z_fp: np.ndarray, form_b: bool, c: np.ndarray) -> None:
    k = 1.0
    x_max = min(1.0, r / q) if q > 0.0 else 1.0
    nn = n_nodes + 1
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
    for it in range(m_iter):
        for i in range(1, nn):
            tau = taus[i]
            sh = _sqrt_h(c, z_nodes[i])
            b = x_max * math.exp(-sh)
            n_, d_, fv, dp0, dm0 = _fp_equation(tau, -sh, b, k, r, q, vol, c, z_fp[i], fx, fw,
                                                form_b)
            if it == 0:
                sv = vol * math.sqrt(tau)
                if form_b:
                    dd = norm_pdf(dp0) / (b * sv)
                    nd = norm_pdf(dm0) / (b * sv)
                else:
                    dd = (-norm_pdf(dp0) * dp0 / (b * sv * sv) + norm_pdf(dp0) / (b * sv))
                    nd = -norm_pdf(dm0) * dm0 / (b * sv * sv)
                fd = k * math.exp(-(r - q) * tau) * (nd / d_ - dd * n_ / (d_ * d_))
                fv = b - (fv - b) / (fd - 1.0)
            if not (fv > 0.0 and math.isfinite(fv)):
                fv = b
            h[i] = math.log(fv / x_max) ** 2
        _cheb_fit(h, fit, c)


@njit(cache=False)
def _scalar_boundary(r: float, q: float, vol: float, t_years: float, scheme: tuple,
                     c: np.ndarray) -> None:
    n_nodes, m_iter, fx, fw, _px, _pw, fit, z_nodes, z_fp, _z_pr, m_s, fx_s, fw_s, z_fp_s = scheme
    w = steep_weight(r, q, vol, t_years)
    ca = np.zeros(n_nodes + 1)
    cb = np.zeros(n_nodes + 1)
    if w > 0.0:
        _scalar_form(r, q, vol, t_years, n_nodes, m_iter, fx, fw, fit, z_nodes, z_fp, False, ca)
    if w < 1.0:
        _scalar_form(r, q, vol, t_years, n_nodes, m_s, fx_s, fw_s, fit, z_nodes, z_fp_s, True, cb)
    for j in range(n_nodes + 1):
        c[j] = w * ca[j] + (1.0 - w) * cb[j] if 0.0 < w < 1.0 else (ca[j] if w == 1.0 else cb[j])


finite = {"allow_nan": False, "allow_infinity": False}


@settings(max_examples=200, deadline=None)
@example(r=0.13671875, q=0.0, vol=0.0625, t=2.125)  # 2.9e-9 relative: low vol, high rate
@example(r=0.08, q=0.0, vol=0.08, t=1100 / 365)  # steep (Phi form only): issue 16's 3-year put
@example(r=0.05, q=0.01, vol=0.2, t=5.0)  # s = (r - q) t / vol^2 = 5: both forms, blended
@example(r=0.1, q=0.1, vol=0.03, t=5.0)  # r = q, low vol: the phi form
@given(r=st.floats(1e-4, 0.15, **finite), q=st.floats(0.0, 0.15, **finite),
       vol=st.floats(0.02, 3.0, **finite), t=st.floats(1.0 / 365.0 / 24.0, 5.0, **finite))
def test_vectorised_boundary_equals_the_scalar_form(r: float, q: float, vol: float,
                                                    t: float) -> None:
    """ln(B/X) = -sqrt(H) within 1e-12 + 1e-8 relative at 40 times to expiry: rounding of the
    vector exp/Phi and of the basis sums against Clenshaw, amplified by the fixed point's
    iterations where the boundary is steep (4e-10 relative at vol 2%, r 12.5%, q 0; 2.9e-9 at
    vol 6.25%, r 13.7%, q 0, t 2.1); not at tau = 0 itself, where B = X by construction and
    the square root would magnify a rounding of H ~ 1e-19 in either form."""
    n = DEFAULT_SCHEME[0] + 1
    ours = np.zeros(n)
    ref = np.zeros(n)
    put_boundary(r, q, vol, t, DEFAULT_SCHEME, ours)
    _scalar_boundary(r, q, vol, t, DEFAULT_SCHEME, ref)
    z = np.linspace(-1.0, 1.0, 41)[1:]
    tz = np.polynomial.chebyshev.chebvander(z, n - 1)
    h_ours, h_ref = tz @ ours, tz @ ref
    assert np.isfinite(h_ours).all()
    np.testing.assert_allclose(np.sqrt(np.maximum(h_ours, 0)), np.sqrt(np.maximum(h_ref, 0)),
                               rtol=1e-8, atol=1e-12)
