"""openmlink.engines.implied -- the implied-quote engine (LiveImpliedQuote, LiveAtmVol,
LiveSurfaceCurve, LiveImpliedQuoteAdj): plain classes fed from a bus, no sockets or HTTP.

Modules: _book (columnar market state), _engine (Tick and Loop), _surfaces (per-expiry
records), _adj (LiveImpliedQuoteAdj from the stored rows), _enums (enum ordinals).  The array
kernels they apply (parity forwards, quote vols, surface rows, SVI fits) are in
``openmlink.analytics``.
"""

from __future__ import annotations

from ...analytics.warm import StagedWarmUp, warm_up
from ._adj import ImpliedQuoteAdjuster, adjust
from ._book import Book, RootInfo
from ._engine import EngineConfig, ImpliedQuoteEngine

__all__ = [
    "Book",
    "EngineConfig",
    "ImpliedQuoteAdjuster",
    "ImpliedQuoteEngine",
    "RootInfo",
    "adjust",
    "StagedWarmUp",
    "warm_up",
]
