"""Limit pricing kernels (spec trading.md section 2): from a parent order's limit fields and
its series' market to the primary limit, the take/make effective limits, child prices on the
tick grid and public child sizes.  Pure: arrays in, arrays out (no bus, store or clock).
"""

from ._children import (
    DEFAULT_MKT_SIZE,
    SUPPORTED_BALANCE,
    child_prices,
    child_size,
    child_sizes,
    split_size,
    split_sizes,
)
from ._compute import DEFAULT_MODEL, SUPPORTED_TYPES, compute_limits, model_price
from ._enums import (
    BALANCE,
    LIMIT_CLASS,
    LIMIT_ERR,
    LIMIT_ERR_NAMES,
    LIMIT_TYPE,
    PRICE_TYPE,
    PUBLIC_SIZE,
)
from ._memo import PriceMemo
from ._ticks import STEP_PRICE, round_to_tick, tick_at, tick_sizes
from ._types import LimitModel, LimitResult, OrderLimits, SeriesMarket

__all__ = [
    "BALANCE",
    "DEFAULT_MKT_SIZE",
    "DEFAULT_MODEL",
    "LIMIT_CLASS",
    "LIMIT_ERR",
    "LIMIT_ERR_NAMES",
    "LIMIT_TYPE",
    "PRICE_TYPE",
    "PUBLIC_SIZE",
    "STEP_PRICE",
    "SUPPORTED_BALANCE",
    "SUPPORTED_TYPES",
    "LimitModel",
    "LimitResult",
    "OrderLimits",
    "PriceMemo",
    "SeriesMarket",
    "child_prices",
    "child_size",
    "child_sizes",
    "compute_limits",
    "model_price",
    "round_to_tick",
    "split_size",
    "split_sizes",
    "tick_at",
    "tick_sizes",
]
