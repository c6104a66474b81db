"""Full revaluation of option positions under underlier moves (pure array code, no I/O).

The pricer is LiveImpliedQuote's (``analytics.row_prices`` with the engine's American model:
ALO or Barone-Adesi-Whaley on the escrowed spot for American rows, Black-76 on the forward
otherwise).  Slides are sticky-delta: the
shocked option's vol is read off the expiry's SVI smile at its new log-moneyness
``ln(K / F')`` with ``F'`` the forward after the move; time, rates and carry are unchanged.
Rows without a smile (NaN parameters) keep their base vol (sticky-strike).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ...analytics import AmericanModel, RowContext, row_prices, smile_total_variance

__all__ = ["SLIDES", "RevalInputs", "shocked_vols", "slide_pnl"]

#: SymbolRiskSummaryV5 slide name suffix -> log move s (underlier to uPrc * exp(s))
SLIDES: tuple[tuple[str, float], ...] = (
    ("su90", 0.90), ("sd90", -0.90), ("su50", 0.50), ("sd50", -0.50), ("su15", 0.15),
    ("sd15", -0.15), ("su10", 0.10), ("sd10", -0.10), ("su06", 0.06), ("sd08", -0.08),
    ("su05", 0.05), ("sd05", -0.05),
)

F64 = NDArray[np.float64]


@dataclass
class RevalInputs:
    """Per-position pricing inputs (1-D arrays of one length; ``params``: the engine smile,
    (n, SMILE_WIDTH))."""

    spot: F64
    strike: F64
    cpf: F64  # +1 call, -1 put
    t_years: F64
    rate: F64
    q: F64  # carry yield (Equity); = rate for futures
    ddiv: F64  # PV of cash dividends before expiry
    uoff: F64  # futures: forward - spot (NaN for equity rows)
    american: NDArray[np.bool_]
    params: F64
    base_vol: F64  # LiveImpliedQuote.sVol, used where the smile is missing

    def forward(self, spot: F64) -> F64:
        with np.errstate(all="ignore"):
            eq = (spot - self.ddiv) * np.exp((self.rate - self.q) * self.t_years)
        return np.where(np.isfinite(self.uoff), spot + np.nan_to_num(self.uoff), eq)

    def context(self, spot: F64) -> RowContext:
        return RowContext(spot, self.forward(spot), self.strike, self.cpf, self.t_years,
                          self.rate, self.q, self.ddiv, self.american, self.params)


def shocked_vols(inp: RevalInputs, spot: F64) -> F64:
    """Sticky-delta vol of each row with the underlier at ``spot``."""
    fwd = inp.forward(spot)
    with np.errstate(all="ignore"):
        w = smile_total_variance(np.log(inp.strike / fwd), inp.params)
        v = np.sqrt(w / inp.t_years)
    ok = np.isfinite(v) & (v > 0) & np.all(np.isfinite(inp.params), axis=1)
    return np.where(ok, v, inp.base_vol)


def slide_pnl(inp: RevalInputs, moves: tuple[float, ...] | list[float],
              model: AmericanModel = "alo") -> tuple[F64, F64]:
    """(base value per share (n,), price change per share (len(moves), n)) of each row.

    One ``row_prices`` call over all rows and moves stacked (n * (1 + len(moves)) rows)."""
    n = len(inp.spot)
    m = len(moves)
    if n == 0:
        return np.zeros(0), np.zeros((m, 0))
    factors = np.concatenate(([1.0], np.exp(np.asarray(moves, float))))
    spot = (factors[:, None] * inp.spot[None, :]).ravel()
    tile = (lambda a: np.tile(a, m + 1))  # noqa: E731
    big = RevalInputs(spot, tile(inp.strike), tile(inp.cpf), tile(inp.t_years), tile(inp.rate),
                      tile(inp.q), tile(inp.ddiv), tile(inp.uoff), tile(inp.american),
                      np.tile(inp.params, (m + 1, 1)), tile(inp.base_vol))
    vol = shocked_vols(big, spot)
    ctx = big.context(spot)
    px = row_prices(ctx, vol, model)
    # expired or unpriceable rows: intrinsic value on the forward
    px = np.where(np.isfinite(px), px, np.maximum(ctx.cpf * (ctx.fwd - ctx.strike), 0.0))
    px = px.reshape(m + 1, n)
    base = px[0]
    return base, px[1:] - base[None, :]
