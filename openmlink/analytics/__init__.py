"""openmlink.analytics -- pure option-pricing kernels over NumPy arrays (no I/O, no clock).

Public API: price, implied_vol (+ IvError codes), greeks, slides, price_greeks_slides.
Implementation: _black (European closed forms), _lbr (Let's Be Rational implied vol),
_american (Andersen-Lake-Offengelda collocation), _dividends (escrowed spot, FD with cash
dividends), _greeks (bump greeks / root-finder IV for engines without closed forms).
"""

from __future__ import annotations

from ._api import (
    DEFAULT_SCHEME,
    greeks,
    implied_vol,
    price,
    price_greeks_slides,
    slide_keys,
    slides,
)
from ._black import GREEK_KEYS, SLIDE_KEYS, SLIDE_MOVES
from ._errors import IvError

__all__ = [
    "DEFAULT_SCHEME",
    "GREEK_KEYS",
    "SLIDE_KEYS",
    "SLIDE_MOVES",
    "IvError",
    "greeks",
    "implied_vol",
    "price",
    "price_greeks_slides",
    "slide_keys",
    "slides",
]
