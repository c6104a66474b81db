"""Enum ordinals used by the limit kernels, read once from the schema registry by name.

Every mapping is ``member name -> ordinal`` (the position in the schema's enum, which is what
records store), read-only.  Names are the MLink JSON spellings: ``LIMIT_ERR["AuxLimit"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ...schema import registry

__all__ = [
    "BALANCE",
    "LIMIT_CLASS",
    "LIMIT_ERR",
    "LIMIT_ERR_NAMES",
    "LIMIT_TYPE",
    "PRICE_TYPE",
    "PUBLIC_SIZE",
    "enum_map",
]


def enum_map(msg: str, field: str) -> Mapping[str, int]:
    """``{member: ordinal}`` of the enum behind ``msg.field`` (raises if it is not an enum)."""
    f = registry()[msg].field(field)
    if f is None or f.enum is None:
        raise KeyError(f"{msg}.{field} is not an enum field")
    return MappingProxyType({name: i for i, name in enumerate(f.enum.names)})


LIMIT_ERR: Mapping[str, int] = enum_map("SpdrParentBrkrState", "limitErr")
"""LimitError: None, LmtPrcRng, ..., AuxLimit, ..., NoSurface, ... (schema order)."""
LIMIT_ERR_NAMES: tuple[str, ...] = tuple(LIMIT_ERR)
"""Ordinal -> name (for ``limitErrDesc`` texts)."""
LIMIT_TYPE: Mapping[str, int] = enum_map("SpdrParentOrder", "orderLimitType")
"""SpdrLimitType: None, Market, MarketArrival, Prc, PrcDe, ..., Vol, VolX, ..., Aux, ..."""
LIMIT_CLASS: Mapping[str, int] = enum_map("SpdrParentOrder", "takeLimitClass")
"""SpdrLimitClass: Simple, Surface, Probability, SurfProb."""
BALANCE: Mapping[str, int] = enum_map("SpdrParentOrder", "parentBalanceHandling")
"""ParentBalanceHandling: None, PostWith, PostTurn, PostImprove, PostLimit, ..."""
PUBLIC_SIZE: Mapping[str, int] = enum_map("SpdrParentOrder", "publicSize")
"""PublicSizeHandling: None, Randomize, MktSize, FullSize, ..., FullSizeR, Max25Pct, ..., NoSize."""
PRICE_TYPE: Mapping[str, int] = enum_map("LiveImpliedQuote", "priceType")
"""CalcPriceType: None, Equity, Future (LiveImpliedQuote.priceType)."""
