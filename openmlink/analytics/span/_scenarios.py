"""The 16 SPAN scenarios and the price/vol span conventions (pure NumPy, no I/O).

Scenario table (as the SpanRiskCalculator page lists them): ``span01``..``span14`` move the
underlier by 0, +1/3, -1/3, +2/3, -2/3, +1, -1 of the price span, each with vol up then vol
down; ``span15``/``span16`` move it by +/- ``extreme_mult`` (3) price spans at unchanged vol and
the PnL is scaled by ``extreme_weight`` (0.33).

Price span (``prcSpanType``; up and down distances apply to up and down moves):

=======  ==============================================================================
Pct      S' = S * (1 + f * span)          span a fraction (0.15 = 15%)
Log      S' = S * exp(f * span)           span a log move
Pts      S' = S + f * span                span in underlier price points
SD1d     S' = S * exp(f * span * vol * sqrt(1/252))   span in 1-trading-day std devs
Exch     the exchange-style class default of ``EXCH_DEFAULTS`` (a Pct span)
None     no price move
=======  ==============================================================================

(f is the signed scenario fraction; prices are floored at 1e-9 * S.)

Vol span (``volSpanType``; ``volSpan`` >= 0, up = +, down = -; vols floored at 1e-4):

=======  ==============================================================================
Pct      vol * (1 +/- span)               relative (0.25 = 25% of the vol)
Log      vol * exp(+/- span)
Pts      vol +/- span / 100               span in vol points (5 = 0.05)
Abs      vol +/- span                     span in annualised vol units (0.05)
vAnn     vol +/- span * sqrt((30/365) / years)   a 30-day vol shift, scaled by sqrt-time
Exch     the class default of ``EXCH_DEFAULTS`` (a Pct span)
None     no vol move
=======  ==============================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "DEFAULT_CONFIG",
    "EXCH_DEFAULTS",
    "N_SCENARIOS",
    "PRC_SPAN_TYPES",
    "SPAN_FIELDS",
    "VOL_SPAN_TYPES",
    "ExchDefault",
    "SpanConfig",
    "exch_default",
    "scenario_grid",
]

N_SCENARIOS = 16
SPAN_FIELDS: tuple[str, ...] = tuple(f"span{i:02d}" for i in range(1, N_SCENARIOS + 1))
#: enum member names in ordinal order (PrcSpanType, VolSpanType of enums.json)
PRC_SPAN_TYPES: tuple[str, ...] = ("None", "Pct", "Log", "Pts", "SD1d", "Exch")
VOL_SPAN_TYPES: tuple[str, ...] = ("None", "Pct", "Log", "Pts", "Abs", "vAnn", "Exch")
_SD1D_YEARS = 1.0 / 252.0
_VANN_REF_YEARS = 30.0 / 365.0


@dataclass(frozen=True, slots=True)
class SpanConfig:
    """The two configurable constants of the extreme scenarios 15/16."""

    extreme_mult: float = 3.0
    extreme_weight: float = 0.33

    def fractions(self) -> NDArray[np.float64]:
        """Signed price-span fractions of the 16 scenarios."""
        x = self.extreme_mult
        return np.array([0, 0, 1 / 3, 1 / 3, -1 / 3, -1 / 3, 2 / 3, 2 / 3, -2 / 3, -2 / 3,
                         1, 1, -1, -1, x, -x], dtype=np.float64)

    @staticmethod
    def vol_dirs() -> NDArray[np.float64]:
        """+1 vol up, -1 vol down, 0 unchanged, per scenario."""
        return np.array([1, -1] * 7 + [0, 0], dtype=np.float64)

    def weights(self) -> NDArray[np.float64]:
        """PnL weight per scenario (1, and ``extreme_weight`` for 15/16)."""
        w = np.ones(N_SCENARIOS)
        w[14:] = self.extreme_weight
        return w


@dataclass(frozen=True, slots=True)
class ExchDefault:
    """An exchange-style default: Pct price span up/down and Pct vol span."""

    prc_up: float
    prc_dn: float
    vol_span: float


#: product class -> default used for ``Exch`` spans (documented in docs/span.md):
#: equity/ETF options as the Cboe/OCC portfolio-margin +/-15%, broad-index options +6%/-8%
#: (the LiveImpliedQuote up06/dn08 slides), futures and options on futures +/-8%.
EXCH_DEFAULTS: dict[str, ExchDefault] = {
    "equity": ExchDefault(0.15, 0.15, 0.25),
    "index": ExchDefault(0.06, 0.08, 0.20),
    "future": ExchDefault(0.08, 0.08, 0.20),
}


DEFAULT_CONFIG = SpanConfig()


def exch_default(product_class: str) -> ExchDefault:
    return EXCH_DEFAULTS.get(product_class, EXCH_DEFAULTS["equity"])


def scenario_grid(S: ArrayLike, vol: ArrayLike, years: ArrayLike, prc_type: ArrayLike,
                  prc_up: ArrayLike, prc_dn: ArrayLike, vol_type: ArrayLike,
                  vol_span: ArrayLike, config: SpanConfig = DEFAULT_CONFIG
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Scenario underlier prices and vols, each of shape (n, 16).

    ``prc_type``/``vol_type`` are enum ordinals (``PRC_SPAN_TYPES``/``VOL_SPAN_TYPES``); an
    ``Exch`` row must already carry its class default (``prc_up``..., type Pct) -- the engine
    resolves it.  Units as in the module docstring.  Tested: tests/span/test_span_kernel.py.
    """
    s, v, t, pt, pu, pd, vt, vs = np.broadcast_arrays(
        *[np.asarray(a, dtype=np.float64) for a in
          (S, vol, years, prc_type, prc_up, prc_dn, vol_type, vol_span)])
    s, v, t, pu, pd, vs = (np.atleast_1d(a).ravel() for a in (s, v, t, pu, pd, vs))
    pt = np.atleast_1d(pt).ravel().astype(np.int64)
    vt = np.atleast_1d(vt).ravel().astype(np.int64)
    with np.errstate(over="ignore", invalid="ignore"):  # unused branches may overflow
        f = config.fractions()[None, :]
        span = np.where(f >= 0, pu[:, None], pd[:, None])
        sc = s[:, None]
        sd1 = v[:, None] * np.sqrt(_SD1D_YEARS)
        s_pct = sc * (1.0 + f * span)
        s_log = sc * np.exp(f * span)
        s_pts = sc + f * span
        s_sd = sc * np.exp(f * span * sd1)
        ptc = pt[:, None]
        S_s = np.select([ptc == 1, ptc == 2, ptc == 3, ptc == 4, ptc == 5],
                        [s_pct, s_log, s_pts, s_sd, s_pct], default=np.broadcast_to(sc, s_pct.shape))
        S_s = np.maximum(S_s, 1e-9 * sc)
        d = config.vol_dirs()[None, :]
        vc = v[:, None]
        w = vs[:, None]
        t_safe = np.maximum(t, 1.0 / 365.0)[:, None]
        v_pct = vc * (1.0 + d * w)
        v_log = vc * np.exp(d * w)
        v_pts = vc + d * w / 100.0
        v_abs = vc + d * w
        v_ann = vc + d * w * np.sqrt(_VANN_REF_YEARS / t_safe)
        vtc = vt[:, None]
        V_s = np.select([vtc == 1, vtc == 2, vtc == 3, vtc == 4, vtc == 5, vtc == 6],
                        [v_pct, v_log, v_pts, v_abs, v_ann, v_pct],
                        default=np.broadcast_to(vc, v_pct.shape))
        V_s = np.where(d == 0, vc, np.maximum(V_s, 1e-4))
    return np.ascontiguousarray(S_s), np.ascontiguousarray(V_s)
