"""Small vectorised pricing kernels for the simulator: normal CDF, Black-76, SSVI surface.

These are private to the market package (the analytics package owns the real kernels); they
only need to be smooth, arbitrage-consistent and fast over whole columns.

Units: ``t_years`` in years (ACT/365), vols annualised, ``w`` total implied variance
``vol**2 * t_years``, rates continuously compounded.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

__all__ = ["black76", "bsm_price", "heston_mean_variance", "norm_cdf", "ssvi_total_variance"]

_SQRT1_2 = 0.7071067811865476


def _erfc_pos(x: np.ndarray) -> np.ndarray:
    """erfc(x) for x >= 0 (Numerical Recipes ``erfcc``, relative error < 1.2e-7)."""
    t = 1.0 / (1.0 + 0.5 * x)
    poly = -x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (
        0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (
            1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    return t * np.exp(poly)


def norm_cdf(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF, vectorised (absolute error < 1e-7)."""
    z = np.abs(x) * _SQRT1_2
    half = 0.5 * _erfc_pos(z)
    return np.where(x >= 0, 1.0 - half, half)


def black76(is_put: np.ndarray, fwd: np.ndarray, strike: np.ndarray, std_dev: np.ndarray,
            discount: np.ndarray) -> np.ndarray:
    """Black-76 price of European options on a forward.

    ``std_dev`` is ``vol * sqrt(t_years)`` (not a vol); ``discount`` the discount factor to
    the payment date. Returns the undiscounted-intrinsic limit where ``std_dev`` is 0.
    """
    sd = np.maximum(std_dev, 1e-12)
    d1 = (np.log(fwd / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    call = fwd * norm_cdf(d1) - strike * norm_cdf(d2)
    put = call - (fwd - strike)  # put-call parity on the forward
    return discount * np.maximum(np.where(is_put, put, call), 0.0)


def bsm_price(cp: np.ndarray, spot: np.ndarray, strike: np.ndarray, t_years: np.ndarray,
              rate: np.ndarray, q: np.ndarray, vol: np.ndarray) -> np.ndarray:
    """Black-Scholes-Merton price (``cp`` +1 call / -1 put, continuous yield ``q``) to double
    precision (``scipy.special.ndtr``: within ~1e-12 of ``analytics.price``) with no kernel
    to compile: the European part of the simulator's American values, which must not wait
    for Numba at a cold start.  t_years and vol > 0."""
    sd = vol * np.sqrt(t_years)
    fwd = spot * np.exp((rate - q) * t_years)
    d1 = np.log(fwd / strike) / sd + 0.5 * sd
    d2 = d1 - sd
    value = np.exp(-rate * t_years) * cp * (fwd * ndtr(cp * d1) - strike * ndtr(cp * d2))
    return np.maximum(value, 0.0)


def ssvi_total_variance(k: np.ndarray, theta: np.ndarray, rho: np.ndarray,
                        eta: np.ndarray, gamma: float = 0.5) -> np.ndarray:
    """SSVI (Gatheral-Jacquier 2014) total variance at log-moneyness ``k = ln(K/F)``.

    ``theta``: ATM total variance; ``phi(theta) = eta / (theta**gamma (1+theta)**(1-gamma))``.
    Free of butterfly arbitrage when ``eta (1 + |rho|) <= 2`` and of calendar arbitrage when
    ``theta`` increases with maturity.
    """
    th = np.maximum(theta, 1e-10)
    phi = eta / (th**gamma * (1.0 + th) ** (1.0 - gamma))
    pk = phi * k
    return 0.5 * th * (1.0 + rho * pk + np.sqrt((pk + rho) ** 2 + 1.0 - rho * rho))


def heston_mean_variance(v0: np.ndarray, vbar: np.ndarray, kappa: float,
                         t_years: np.ndarray) -> np.ndarray:
    """Expected average variance over [0, t] of a Heston variance process started at ``v0``
    (the ATM variance term structure). Increasing ``t * result`` for any v0, vbar > 0."""
    kt = np.maximum(kappa * t_years, 1e-12)
    return vbar + (v0 - vbar) * (1.0 - np.exp(-kt)) / kt
