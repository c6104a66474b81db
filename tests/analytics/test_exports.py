"""The public face of openmlink.analytics is deliberate (STYLE.md section 2 item 3)."""

from __future__ import annotations

import importlib

import openmlink.analytics as analytics

EXPECTED = [
    "DEFAULT_SCHEME", "GREEK_KEYS", "IvError", "SLIDE_KEYS", "SLIDE_MOVES", "greeks",
    "implied_vol", "price", "price_greeks_slides", "slide_keys", "slides",
]
PRIVATE = ["_american", "_api", "_black", "_dividends", "_errors", "_greeks", "_lbr", "_normal"]


def test_package_exports_exactly_the_public_api() -> None:
    assert sorted(analytics.__all__) == sorted(EXPECTED)
    for name in EXPECTED:
        assert hasattr(analytics, name)


def test_every_private_module_declares_its_exports() -> None:
    for mod in PRIVATE:
        m = importlib.import_module(f"openmlink.analytics.{mod}")
        assert isinstance(m.__all__, list) and m.__all__
        for name in m.__all__:
            assert hasattr(m, name), f"{mod}.{name}"


def test_iv_error_codes_are_distinct_and_documented() -> None:
    codes = [int(c) for c in analytics.IvError]
    assert codes == [0, 1, 2, 3, 4, 5]
    assert analytics.IvError.OK == 0
