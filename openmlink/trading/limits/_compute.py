"""compute_limits: primary limit P by orderLimitType, then take/make effective limits by
limit class (Simple, Surface, Probability, SurfProb).  Pure, vectorised over orders."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._types import LimitModel, LimitResult, OrderLimits, SeriesMarket

__all__ = ["DEFAULT_MODEL", "compute_limits", "model_price"]

DEFAULT_MODEL = LimitModel()


def model_price(vol: ArrayLike, mkt: SeriesMarket, u: ArrayLike | None = None) -> NDArray[np.float64]:
    """Option value per row at ``vol`` (decimal) with the model that produces LiveImpliedQuote
    sPrc from sVol: Equity (American) rows on the escrowed spot ``u - ddiv`` with carry
    ``sdiv``; Future (European) rows Black-76 on ``u + u_off``.  ``u`` defaults to ``u_prc``.
    NaN where an input is missing or invalid."""
    raise NotImplementedError


def compute_limits(orders: OrderLimits, mkt: SeriesMarket,
                   model: LimitModel = DEFAULT_MODEL) -> LimitResult:
    """Limits of every order against its series' market (docs/trading-limits.md).

    Never raises on bad market data: a row that cannot be priced gets NaN and a LimitError
    ordinal in ``limit_err`` / ``take_err`` / ``make_err``.  Raises ValueError only when the
    column sets are malformed (not 1-D, lengths differ).
    """
    raise NotImplementedError
