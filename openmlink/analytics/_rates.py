"""Discount rates for the engine: a term structure of continuously compounded zero rates
(``RateCurve``), the rates implied by put-call parity on European chains (``parity_rates``)
and a smoothed curve through those observations (``RateCurve.implied``).

Units: t in years (Act/365), rates continuously compounded decimals (0.05 = 5%), so the
discount factor to t is exp(-rate * t).

Parity (box spreads).  For European options of one expiry, C(K) - P(K) = D (F - K) at every
strike: a straight line in K of slope -D.  Any two strikes K1 < K2 form a box whose value is
D (K2 - K1), so the slope is the market's box-spread discount factor.  ``parity_rates`` fits
that line by least squares over the strikes (near the money) where both the call and the put
are two-sided, drops pairs whose residual exceeds ``trim`` half-spreads and fits again (equal
weights: weighting by 1 / half-spread^2 moved long XSP rates by up to 28 bp on 2023-09-14, a
few tight quotes off parity dominating), and returns per expiry
rate = -ln(D) / t, its standard error from the fit and the pairs used.  Short expiries give
little information (a 0.05 error in C - P over a 1,000-point range moves a 1-day rate by
1.8%): the standard error says so, and ``RateCurve.implied`` weights accordingly.
"""

from __future__ import annotations

import math
import re

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["DEFAULT_RATE", "RateCurve", "RateCurveFormatError", "combine_rate", "parity_rates"]

DEFAULT_RATE = 0.045
"""Default flat rate (continuously compounded, Act/365): the simulator's own rate, and about the
US short rate of 2024-2025."""

_VAR_FLOOR = 1e-4
"""Smallest variance of a (C - P) mid (a half-cent): a locked quote does not get infinite weight."""


class RateCurveFormatError(ValueError):
    """A rate-curve file that cannot be read: the message names the line and the reason."""


class RateCurve:
    """Zero rates piecewise-linear in t_years between pillars, flat beyond the end pillars.

    ``RateCurve.flat(0.05)`` is a constant curve.  ``rate(t_years)`` is the continuously
    compounded zero rate to t_years, so the discount factor is exp(-rate * t_years).
    ``as_of`` is the date the curve was observed (ISO text, "" when unknown).
    """

    def __init__(self, pillars_years: ArrayLike, rates: ArrayLike, as_of: str = "") -> None:
        t = np.asarray(pillars_years, dtype=np.float64)
        r = np.asarray(rates, dtype=np.float64)
        if t.ndim != 1 or t.shape != r.shape or t.size == 0:
            raise ValueError("RateCurve: pillars_years and rates must be equal-length 1-D")
        if np.any(np.diff(t) <= 0):
            raise ValueError("RateCurve: pillars_years must increase strictly")
        if not np.all(np.isfinite(r)) or not np.all(np.isfinite(t)):
            raise ValueError("RateCurve: pillars and rates must be finite")
        self.pillars_years = t
        self.rates = r
        self.as_of = as_of

    @classmethod
    def flat(cls, rate: float = DEFAULT_RATE) -> RateCurve:
        return cls([0.0], [rate])

    def rate(self, t_years: ArrayLike) -> NDArray[np.float64]:
        return np.interp(np.asarray(t_years, dtype=np.float64), self.pillars_years, self.rates)

    # ------------------------------------------------------------------ file format
    @classmethod
    def parse(cls, text: str, name: str = "<rate curve>") -> RateCurve:
        """A curve from the text of a rate-curve file (docs/rates.md).

        Lines: ``# comment``; ``as_of,YYYY-MM-DD`` (optional, once); the header ``days,rate``;
        then one pillar per line: calendar days from the valuation date (> 0, increasing) and
        the continuously compounded Act/365 zero rate as a decimal (|rate| < 1).  Blank lines
        are ignored.  Errors name the line and the reason (``RateCurveFormatError``)."""
        days: list[float] = []
        rates: list[float] = []
        as_of = ""
        header = False
        for i, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            cells = [c.strip() for c in line.split(",")]
            where = f"{name} line {i}"
            if len(cells) != 2:
                raise RateCurveFormatError(f"{where}: expected 2 comma-separated cells, got {len(cells)}")
            if cells[0] == "as_of":
                if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", cells[1]):
                    raise RateCurveFormatError(f"{where}: as_of must be a date YYYY-MM-DD, not {cells[1]!r}")
                as_of = cells[1]
                continue
            if cells == ["days", "rate"]:
                header = True
                continue
            if not header:
                raise RateCurveFormatError(f"{where}: the header 'days,rate' must come before pillars")
            try:
                d, r = float(cells[0]), float(cells[1])
            except ValueError:
                raise RateCurveFormatError(f"{where}: days and rate must be numbers, got {line!r}") from None
            if not (math.isfinite(d) and d > 0):
                raise RateCurveFormatError(f"{where}: days must be > 0, got {cells[0]}")
            if not (math.isfinite(r) and abs(r) < 1.0):
                raise RateCurveFormatError(f"{where}: rate must be a decimal with |rate| < 1, got {cells[1]}")
            if days and d <= days[-1]:
                raise RateCurveFormatError(f"{where}: days must increase (after {days[-1]:g})")
            days.append(d)
            rates.append(r)
        if not days:
            raise RateCurveFormatError(f"{name}: no pillars (a 'days,rate' header and rows)")
        return cls(np.asarray(days) / 365.0, rates, as_of)

    def to_text(self, comment: str = "") -> str:
        """The file form of the curve (``parse`` reads it back)."""
        lines = [f"# {c}" for c in comment.splitlines()]
        if self.as_of:
            lines.append(f"as_of,{self.as_of}")
        lines.append("days,rate")
        lines += [f"{t * 365.0:.6g},{r:.6f}" for t, r in zip(self.pillars_years.tolist(),
                                                             self.rates.tolist(), strict=True)]
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------ implied
    @classmethod
    def implied(cls, t_years: ArrayLike, rates: ArrayLike, se: ArrayLike, base: RateCurve,
                sys_err: float = 0.0, drift: float = 0.01, prior_err: float = 0.01,
                as_of: str = "") -> RateCurve:
        """A smooth curve through per-expiry rate observations (e.g. ``parity_rates``).

        The curve's values z_j at the observed times (equal times merged) minimise
            sum_i (z(t_i) - r_i)^2 / (se_i^2 + sys_err^2)          (observations)
          + sum_j (z_{j+1} - z_j)^2 / (drift^2 (t_{j+1} - t_j))    (a random walk in t)
          + sum_j (z_j - base(t_j))^2 / prior_err^2                (the base curve as prior)
        -- a linear smoother: well-measured long expiries pin the curve, the noisy short ones
        barely move it, and without observations it is the base curve.  ``sys_err`` is the
        spread seen between estimates of neighbouring expiries beyond their own errors
        (quotes taken at slightly different moments).  Non-finite observations are ignored;
        without any the base curve is returned."""
        t = np.asarray(t_years, np.float64)
        r = np.asarray(rates, np.float64)
        s = np.asarray(se, np.float64)
        ok = np.isfinite(t) & np.isfinite(r) & np.isfinite(s) & (t > 0) & (s >= 0)
        if not ok.any():
            return base
        t, r, s = t[ok], r[ok], s[ok]
        grid = np.unique(np.round(t * 365.0 * 24.0) / (365.0 * 24.0))  # merge within the hour
        j = np.clip(np.searchsorted(grid, np.round(t * 365.0 * 24.0) / (365.0 * 24.0)), 0, len(grid) - 1)
        w = 1.0 / (s * s + sys_err * sys_err)
        n = len(grid)
        a = np.zeros((n, n))
        rhs = np.zeros(n)
        np.add.at(a, (j, j), w)
        np.add.at(rhs, j, w * r)
        pw = 1.0 / (prior_err * prior_err)
        a[np.arange(n), np.arange(n)] += pw
        rhs += pw * base.rate(grid)
        if n > 1:
            c = 1.0 / (drift * drift * np.maximum(np.diff(grid), 1e-6))
            i = np.arange(n - 1)
            a[i, i] += c
            a[i + 1, i + 1] += c
            a[i, i + 1] -= c
            a[i + 1, i] -= c
        z = np.linalg.solve(a, rhs)
        return cls(grid, z, as_of or base.as_of)

    def __repr__(self) -> str:
        return f"RateCurve({self.pillars_years.tolist()}, {self.rates.tolist()})"


def parity_rates(strike: NDArray[np.float64], cp: NDArray[np.int8], bid: NDArray[np.float64],
                 ask: NDArray[np.float64], offsets: NDArray[np.int64], t_years: NDArray[np.float64],
                 center: NDArray[np.float64] | None = None, band: float = math.inf,
                 trim: float = 3.0, min_pairs: int = 5
                 ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64],
                            NDArray[np.int64]]:
    """Rate implied by put-call parity per expiry group (rows ``offsets[g]:offsets[g+1]``).

    ``cp`` 0 call / 1 put; one call and one put per strike and group.  With ``center`` (per
    group, e.g. the spot) only strikes with |ln(K / center)| <= ``band`` are used: the liquid
    strikes near the money (deep in-the-money mids sit off parity consistently, and their
    leverage on the slope moved 2023-09-14 SPX/XSP rates by up to 28 bp).  Returns (rate, standard
    error of the rate, forward F = intercept / D, pairs used); NaN rate where the group has
    fewer than ``min_pairs`` two-sided pairs or t <= 0 (see the module docstring)."""
    off = np.asarray(offsets, np.int64)
    ng = max(len(off) - 1, 0)
    rate = np.full(ng, np.nan)
    se = np.full(ng, np.nan)
    fwd = np.full(ng, np.nan)
    npairs = np.zeros(ng, np.int64)
    if ng == 0 or len(strike) == 0:
        return rate, se, fwd, npairs
    k = np.asarray(strike, np.float64)
    c = np.asarray(cp)
    b = np.asarray(bid, np.float64)
    a = np.asarray(ask, np.float64)
    grp = np.repeat(np.arange(ng), np.diff(off))
    with np.errstate(invalid="ignore"):
        two = (b > 0) & (a >= b) & np.isfinite(a) & np.isfinite(k)
    if center is not None:
        with np.errstate(all="ignore"):
            two &= np.abs(np.log(k / np.asarray(center, np.float64)[grp])) <= band
    key = (grp.astype(np.int64) << 32) + np.round(k * 1000.0).astype(np.int64)
    ic = np.flatnonzero(two & (c == 0))
    ip = np.flatnonzero(two & (c == 1))
    _, jc, jp = np.intersect1d(key[ic], key[ip], assume_unique=False, return_indices=True)
    ic, ip = ic[jc], ip[jp]
    g = grp[ic]
    x = k[ic]
    y = 0.5 * (b[ic] + a[ic]) - 0.5 * (b[ip] + a[ip])
    var = np.maximum(0.25 * ((a[ic] - b[ic]) ** 2 + (a[ip] - b[ip]) ** 2), _VAR_FLOOR)
    keep = np.ones(len(x), bool)
    for it in range(3):
        w = keep.astype(np.float64)
        s0 = np.bincount(g, w, ng)
        with np.errstate(all="ignore"):
            xm = np.bincount(g, w * x, ng) / s0
            ym = np.bincount(g, w * y, ng) / s0
            dx = x - xm[g]
            dy = y - ym[g]
            sxx = np.bincount(g, w * dx * dx, ng)
            beta = np.bincount(g, w * dx * dy, ng) / sxx
            res = dy - beta[g] * dx
        if it < 2:
            keep = np.abs(res) <= trim * np.sqrt(var)
    n = np.bincount(g, keep.astype(np.float64), ng)
    with np.errstate(all="ignore"):
        chi2 = np.bincount(g, w * res * res, ng) / np.maximum(n - 2, 1)
        d = -beta
        t = np.asarray(t_years, np.float64)
        good = (n >= min_pairs) & (d > 0) & (t > 0) & np.isfinite(d) & (sxx > 0)
        r = -np.log(d) / t
        s = np.sqrt(chi2 / sxx) / (d * t)
        f = (ym - beta * xm) / d
    rate[good] = r[good]
    se[good] = s[good]
    fwd[good] = f[good]
    npairs[:] = n.astype(np.int64)
    return rate, se, fwd, npairs


def combine_rate(own: NDArray[np.float64], own_se: NDArray[np.float64], curve: NDArray[np.float64],
                 curve_err: float) -> NDArray[np.float64]:
    """Precision-weighted mean of an expiry's own parity rate and the curve's rate at its t
    (the curve where the own rate is missing): well-measured expiries keep their own rate, so
    their parity forward and discount factor agree at every strike."""
    with np.errstate(all="ignore"):
        wo = 1.0 / (own_se * own_se)
        wc = 1.0 / (curve_err * curve_err)
        mix = (wo * own + wc * curve) / (wo + wc)
    return np.where(np.isfinite(mix), mix, curve)
