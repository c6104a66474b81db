"""The engine's smile (raw SVI + spline correction): derivatives, the correction's support,
fits that follow a wavy smile, and butterfly freedom of what ``fit_correction`` passes."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.analytics import SMILE_WIDTH, durrleman_g, fit_correction, fit_svi, smile_wk
from openmlink.analytics._svi import svi_total_variance

SVI = np.array([0.004, 0.08, -0.6, 0.02, 0.12])


def _row(coef: np.ndarray, lo: float = -0.4, hi: float = 0.2) -> np.ndarray:
    p = np.zeros((1, SMILE_WIDTH))
    p[0, :5] = SVI
    p[0, 5:8] = lo, hi, len(coef)
    p[0, 8:8 + len(coef)] = coef
    return p


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-0.003, 0.003), min_size=1, max_size=21), st.floats(-0.6, 0.4))
def test_derivatives_and_support(coef: list[float], k0: float) -> None:
    p = _row(np.array(coef))
    k = np.array([k0])
    h = 1e-5
    w, w1, w2 = smile_wk(k, p, 2)
    wp, wm = smile_wk(k + h, p)[0], smile_wk(k - h, p)[0]
    assert abs((wp - wm)[0] / (2 * h) - w1[0]) < 1e-6
    assert abs((wp - 2 * w + wm)[0] / h**2 - w2[0]) < 1e-2 * max(1.0, abs(w2[0]))
    if not -0.4 < k0 < 0.2:  # outside the fitted range the smile is SVI's
        assert w[0] == svi_total_variance(k, SVI)[0]


def _wavy(t: float, n: int, amp: float, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    k = np.sort(rng.uniform(-0.35, 0.15, n))
    w = svi_total_variance(k, SVI * np.array([t, t, 1, 1, 1])) + amp * t * np.sin(k * 25.0)
    return k, w, np.ones(n)


def test_the_correction_follows_what_svi_cannot() -> None:
    k, w, wt = _wavy(1.0, 120, 0.0002, 0)  # w'' waves of +-0.125: still butterfly-free
    off = np.array([0, len(k)])
    svi, _ = fit_svi(k, w, wt, off)
    p, ok = fit_correction(k, w, wt, off, svi)
    assert ok[0] and p[0, 7] >= 4
    # away from the ends (where the correction must vanish smoothly, within 3 knot spans)
    h = (p[0, 6] - p[0, 5]) / (p[0, 7] + 3)
    inner = (k > p[0, 5] + 3 * h) & (k < p[0, 6] - 3 * h)
    err_svi = np.sqrt(np.mean((svi_total_variance(k, svi[0]) - w)[inner] ** 2))
    err = np.sqrt(np.mean((smile_wk(k, p)[0] - w)[inner] ** 2))
    assert err < 0.3 * err_svi


@settings(max_examples=30, deadline=None)
@given(t=st.floats(0.02, 2.0), n=st.integers(12, 150), amp=st.floats(0.0, 0.02),
       seed=st.integers(0, 2**31), kq=st.lists(st.floats(0, 1), min_size=50, max_size=50))
def test_published_fits_are_butterfly_free_in_their_range(t: float, n: int, amp: float, seed: int,
                                                          kq: list[float]) -> None:
    """Whatever the data (waves up to 2% of total variance per year: often arbitrageable), a
    fit passed as arbitrage-free has g >= 0 at random strikes of its range."""
    k, w, wt = _wavy(t, n, amp, seed)
    off = np.array([0, n])
    svi, _ = fit_svi(k, w, wt, off)
    p, ok = fit_correction(k, w, wt, off, svi)
    if ok[0]:
        kk = p[0, 5] + (p[0, 6] - p[0, 5]) * np.array(kq)
        assert np.all(durrleman_g(kk, p) >= -1e-9)
