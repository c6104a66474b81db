"""The engine's rate curve: a base curve (file or flat) plus the rates that liquid European
index chains imply by put-call parity (docs/rates.md).  Array work is in ``analytics``
(``parity_rates``, ``RateCurve.implied``, ``combine_rate``); this keeps the observations."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ...analytics import RateCurve, combine_rate, parity_rates
from ...timeutil import NS_PER_YEAR

if TYPE_CHECKING:
    from ._book import Book
    from ._engine import EngineConfig

__all__ = ["DEFAULT_CURVE_FILE", "ImpliedCurve", "base_curve"]

DEFAULT_CURVE_FILE = "rates_2023-09-14.csv"
"""The shipped base curve (package data of this package): the box-spread rates implied by the
Cboe SPX chain of 2023-09-14 (``tools/rate_curve.py`` made it)."""

_MAX_OBS = 4096
"""Most expiries remembered (oldest settlement dropped first): bounded memory."""


def base_curve(config: EngineConfig) -> RateCurve:
    """``flat_rate`` when set, else the ``rate_curve_file``, else the shipped default."""
    if config.flat_rate is not None:
        return RateCurve.flat(config.flat_rate)
    if config.rate_curve_file:
        p = Path(config.rate_curve_file)
        return RateCurve.parse(p.read_text(encoding="utf-8"), str(p))
    text = resources.files(__package__).joinpath("data", DEFAULT_CURVE_FILE).read_text("utf-8")
    return RateCurve.parse(text, DEFAULT_CURVE_FILE)


class ImpliedCurve:
    """Per-expiry parity rates of the rate-source chains and the curve through them.

    An expiry's parity rate has the fit's standard error ``se`` plus a systematic one: quote
    mids can be off parity by a fraction of a tick consistently across strikes (deep
    in-the-money mids, quotes taken at slightly different moments), an error ``d_err`` on the
    discount factor, i.e. ``d_err / t`` on the rate -- large for short expiries.  (Seen on the
    2023-09-14 chains: XSP and SPXW of the same 15-day expiry 1.0% apart with fit errors of
    2-6 bp; SPXW of 4-14 days at 0.3-4.5% against 5.4-5.8% from 15 days on.)  The error used
    is hypot(se, d_err / t); expiries with more than ``max_se`` do not enter the curve.  Strikes
    within ``band`` (log) of the spot are used (``analytics.parity_rates``)."""

    def __init__(self, base: RateCurve, underliers: tuple[str, ...], d_err: float,
                 curve_err: float, max_se: float, band: float = 0.10) -> None:
        self.band = band
        self.base = base
        self.curve = base
        self.underliers = frozenset(underliers)
        self.d_err = d_err
        self.curve_err = curve_err
        self.max_se = max_se
        self.obs: dict[int, tuple[int, float, float]] = {}  # expiry -> (settle ns, rate, error)
        self._val = 0

    def sources(self, b: Book, exps: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Expiries whose chain implies a rate: European roots of a rate underlier."""
        if not self.underliers or not len(exps):
            return np.zeros(len(exps), bool)
        src = np.array([(not ri.american) and ri.underlier in self.underliers for ri in b.roots], bool)
        return src[b.exp_root[exps]] if len(src) else np.zeros(len(exps), bool)

    def expiry_rates(self, b: Book, exps: NDArray[np.int64], rows: NDArray[np.int64],
                     goff: NDArray[np.int64], t: NDArray[np.float64], spot: NDArray[np.float64],
                     val: int
                     ) -> NDArray[np.float64]:
        """The rate of each expiry at its ``t``: observe the rate sources among ``exps`` first
        (updating the curve), then the curve's rate for all; a source expiry combines its own
        parity rate with the curve's by their errors (``analytics.combine_rate``: its own where
        well measured, so that its forward and discount factor agree at every strike)."""
        src = self.sources(b, exps)
        own = np.full(len(exps), np.nan)
        err = np.full(len(exps), np.nan)
        if src.any():
            rr, se, _, _ = parity_rates(b.strike[rows], b.cp[rows], b.bid[rows], b.ask[rows], goff, t,
                                        center=spot, band=self.band)
            with np.errstate(all="ignore"):
                e = np.hypot(se, self.d_err / t)
            keep = src & (e <= self.max_se)  # NaN compares False
            own[keep], err[keep] = rr[keep], e[keep]
            settle = b.exp_settle_ns[exps]
            for i in np.flatnonzero(src).tolist():
                if keep[i]:
                    self.obs[int(exps[i])] = (int(settle[i]), float(own[i]), float(err[i]))
                else:
                    self.obs.pop(int(exps[i]), None)
            if len(self.obs) > _MAX_OBS:
                for k in sorted(self.obs, key=lambda x: self.obs[x][0])[: len(self.obs) - _MAX_OBS]:
                    del self.obs[k]
            self._refit(val)
        elif val != self._val and self.obs:
            self._refit(val)
        r = self.curve.rate(np.maximum(t, 0.0))
        return np.where(src, combine_rate(own, err, r, self.curve_err), r)

    def _refit(self, val: int) -> None:
        self._val = val
        if not self.obs:
            self.curve = self.base
            return
        o = np.array(list(self.obs.values()), np.float64).reshape(-1, 3)
        t = (o[:, 0] - val) / NS_PER_YEAR
        live = t > 0
        self.curve = RateCurve.implied(t[live], o[live, 1], o[live, 2], self.base)
