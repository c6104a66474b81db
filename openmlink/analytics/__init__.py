"""openmlink.analytics -- pure option-pricing kernels over NumPy arrays (no I/O, no clock).

Public API: price, implied_vol (+ IvError codes), greeks, slides, price_greeks_slides.
Implementation: _black (European closed forms), _lbr (Let's Be Rational implied vol),
_american (Andersen-Lake-Offengelda collocation), _american_grouped (whole expiries
over one boundary table per side), _baw (Barone-Adesi-Whaley rows),
_quote_rows (parity forwards, quote vols and surface rows for whole chains), _rates (rate
curve), _svi (raw-SVI fits), _calendar (calendar-spread check of fitted smiles),
_cachestamp (Numba's cache purged when any source changed),
_dividends (escrowed spot, FD with cash dividends), _greeks (bump greeks / root-finder IV
for engines without closed forms).
"""

from __future__ import annotations

from . import _cachestamp  # noqa: F401  (first: purges a stale Numba cache before any kernel loads)
from ._american_grouped import BoundaryTables, american_prices
from ._api import (
    DEFAULT_SCHEME,
    Exercise,
    Model,
    greeks,
    implied_vol,
    price,
    price_greeks_slides,
    slide_keys,
    slides,
)
from ._black import GREEK_KEYS, SLIDE_KEYS, SLIDE_MOVES
from ._calendar import calendar_check, calendar_short
from ._errors import IvError
from ._parallel import serial_kernels, set_parallel
from ._quote_rows import (
    AmericanModel,
    RowContext,
    american_parity_forward,
    b76_implied_vol,
    b76_rows,
    implied_vols,
    parity_forward,
    row_prices,
    smile_points,
    surface_values,
)
from ._rates import DEFAULT_RATE, RateCurve, RateCurveFormatError, combine_rate, parity_rates
from ._smile import SMILE_WIDTH, durrleman_g, fit_correction, smile_total_variance, smile_wk
from ._svi import fit_svi, svi_total_variance

__all__ = [
    "AmericanModel",
    "BoundaryTables",
    "DEFAULT_RATE",
    "DEFAULT_SCHEME",
    "Exercise",
    "GREEK_KEYS",
    "SLIDE_KEYS",
    "SLIDE_MOVES",
    "SMILE_WIDTH",
    "IvError",
    "Model",
    "RateCurve",
    "RateCurveFormatError",
    "RowContext",
    "american_parity_forward",
    "american_prices",
    "b76_implied_vol",
    "b76_rows",
    "calendar_check",
    "calendar_short",
    "combine_rate",
    "durrleman_g",
    "fit_correction",
    "fit_svi",
    "greeks",
    "implied_vol",
    "implied_vols",
    "parity_forward",
    "parity_rates",
    "price",
    "price_greeks_slides",
    "row_prices",
    "serial_kernels",
    "set_parallel",
    "slide_keys",
    "slides",
    "smile_total_variance",
    "smile_wk",
    "smile_points",
    "surface_values",
    "svi_total_variance",
]
