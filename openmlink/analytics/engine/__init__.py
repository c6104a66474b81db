"""openmlink.analytics.engine -- the option-analytics engine (LiveImpliedQuote, LiveAtmVol,
LiveSurfaceCurve, LiveImpliedQuoteAdj): plain classes fed from a bus, no sockets or HTTP.

Modules: _book (columnar market state), _calc (parity forwards, quote vols, surface values),
_engine (Tick and Loop), _surfaces (per-expiry records), _adj (the computed-on-read Adj table),
_curve (discount-rate term structure), _warm (kernel warm-up).
"""

from __future__ import annotations

from ._adj import ImpliedQuoteAdjuster, adjust
from ._book import Book, RootInfo
from ._calc import parity_forward
from ._curve import DEFAULT_RATE, RateCurve
from ._engine import YEAR_NS, EngineConfig, ImpliedQuoteEngine, engine_context
from ._warm import warm_up

__all__ = [
    "DEFAULT_RATE",
    "YEAR_NS",
    "Book",
    "EngineConfig",
    "ImpliedQuoteAdjuster",
    "ImpliedQuoteEngine",
    "RateCurve",
    "RootInfo",
    "adjust",
    "engine_context",
    "parity_forward",
    "warm_up",
]
