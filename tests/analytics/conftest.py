"""Shared QuantLib (test-only oracle) helpers for the analytics tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import QuantLib as ql

TODAY = ql.Date(15, 1, 2025)


@dataclass
class QlMarket:
    """A flat Black-Scholes-Merton market whose quotes can be reset per case."""

    spot: ql.SimpleQuote
    rate: ql.SimpleQuote
    div: ql.SimpleQuote
    vol: ql.SimpleQuote
    process: ql.BlackScholesMertonProcess

    def set(self, s: float, r: float, q: float, vol: float) -> None:
        self.spot.setValue(s)
        self.rate.setValue(r)
        self.div.setValue(q)
        self.vol.setValue(vol)

    def option(self, cp: int, k: float, days: int, american: bool = False) -> ql.VanillaOption:
        payoff = ql.PlainVanillaPayoff(ql.Option.Call if cp > 0 else ql.Option.Put, k)
        ex = (ql.AmericanExercise(TODAY, TODAY + days) if american
              else ql.EuropeanExercise(TODAY + days))
        return ql.VanillaOption(payoff, ex)


@pytest.fixture
def market() -> Iterator[QlMarket]:
    ql.Settings.instance().evaluationDate = TODAY
    dc = ql.Actual365Fixed()
    spot, rate, div, vol = (ql.SimpleQuote(100.0), ql.SimpleQuote(0.05), ql.SimpleQuote(0.0),
                            ql.SimpleQuote(0.2))
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(spot),
        ql.YieldTermStructureHandle(ql.FlatForward(TODAY, ql.QuoteHandle(div), dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(TODAY, ql.QuoteHandle(rate), dc)),
        ql.BlackVolTermStructureHandle(
            ql.BlackConstantVol(TODAY, ql.NullCalendar(), ql.QuoteHandle(vol), dc)),
    )
    yield QlMarket(spot, rate, div, vol, process)
