"""Universes: the default set of underliers and roots, and a synthetic full US market.

``default_universe()`` holds every ticker the seed notebooks use (AAPL, SPY, CAKE) plus SPX
(AM-settled SPX monthlies and PM-settled SPXW dailies/weeklies), XSP, NDX/NDXP, QQQ, IWM,
NVDA, TSLA and a few large stocks. ``build_universe(spec, today, seed)`` takes ``default``,
``small`` (AAPL, SPY, CAKE, SPX only), ``full`` (about 1.5 million series, the size of the
whole US listed market, by adding seeded synthetic names) or a target series count.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from ._calendar import ExpiryCycle, expiry_dates
from ._securities import OptionRoot, SecurityMaster, Underlier, near_strike_pct, strike_ladder

__all__ = ["FULL_MARKET_SERIES", "build_universe", "default_universe"]

FULL_MARKET_SERIES = 1_500_000

_Q_FEB = (2, 5, 8, 11)
_Q_MAR = (3, 6, 9, 12)
_Q_JAN = (1, 4, 7, 10)

_UNDERLIERS = (
    Underlier("SPX", "Standard & Poors 500 Index", 5900.0, "CashIndex", "None", 0.15, -0.70,
              1.2, div_yield=0.013, quote_width=0.01, strike_step=5.0),
    Underlier("XSP", "S&P 500 Mini-SPX Options Index", 590.0, "CashIndex", "None", 0.15,
              -0.70, 1.2, div_yield=0.013, quote_width=0.015, strike_step=1.0),
    Underlier("NDX", "Nasdaq-100 Index", 20800.0, "CashIndex", "None", 0.19, -0.60, 1.1,
              div_yield=0.007, quote_width=0.015, strike_step=25.0),
    Underlier("SPY", "SPDR S&P 500 ETF Trust", 590.0, "ETF", "NYSEArca", 0.15, -0.70, 1.2,
              div_amount=1.78, div_months=_Q_MAR, div_day=20, quote_width=0.008,
              shares_out_k=1_010_000, strike_step=1.0),
    Underlier("QQQ", "Invesco QQQ Trust", 505.0, "ETF", "NASDAQ", 0.19, -0.60, 1.1,
              div_amount=0.68, div_months=_Q_MAR, div_day=22, quote_width=0.01,
              shares_out_k=560_000, strike_step=1.0),
    Underlier("IWM", "iShares Russell 2000 ETF", 230.0, "ETF", "NYSEArca", 0.22, -0.55, 1.0,
              div_amount=0.80, div_months=_Q_MAR, div_day=12, quote_width=0.012,
              shares_out_k=330_000, strike_step=1.0),
    Underlier("AAPL", "Apple Inc.", 230.0, "Equity", "NASDAQ", 0.26, -0.40, 0.9,
              div_amount=0.26, div_months=_Q_FEB, div_day=10, quote_width=0.02,
              shares_out_k=15_100_000),
    Underlier("NVDA", "NVIDIA Corporation", 140.0, "Equity", "NASDAQ", 0.50, -0.25, 1.0,
              div_amount=0.01, div_months=(3, 6, 9, 12), div_day=5, quote_width=0.02,
              shares_out_k=24_500_000),
    Underlier("TSLA", "Tesla, Inc.", 330.0, "Equity", "NASDAQ", 0.60, -0.15, 1.0,
              quote_width=0.02, shares_out_k=3_200_000),
    Underlier("MSFT", "Microsoft Corporation", 420.0, "Equity", "NASDAQ", 0.24, -0.40, 0.8,
              div_amount=0.83, div_months=_Q_FEB, div_day=15, quote_width=0.02,
              shares_out_k=7_430_000),
    Underlier("AMZN", "Amazon.com, Inc.", 200.0, "Equity", "NASDAQ", 0.32, -0.35, 0.9,
              quote_width=0.02, shares_out_k=10_500_000),
    Underlier("META", "Meta Platforms, Inc.", 580.0, "Equity", "NASDAQ", 0.36, -0.35, 0.9,
              div_amount=0.50, div_months=(3, 6, 9, 12), div_day=14, quote_width=0.025,
              shares_out_k=2_520_000),
    Underlier("AMD", "Advanced Micro Devices, Inc.", 140.0, "Equity", "NASDAQ", 0.50, -0.25,
              1.0, quote_width=0.025, shares_out_k=1_620_000),
    Underlier("CAKE", "The Cheesecake Factory Incorporated", 50.0, "Equity", "NASDAQ", 0.38,
              -0.30, 0.9, div_amount=0.27, div_months=_Q_FEB, div_day=13, spread_ticks=2,
              quote_width=0.08, shares_out_k=51_000),
)

_INDEX_MONTHLY = ExpiryCycle(monthlies=6, quarterlies=4, leaps=3)
_INDEX_WEEKLY = ExpiryCycle(daily_days=14, weeklies=8, monthlies=3, quarterlies=2)
_ETF = ExpiryCycle(daily_days=10, weeklies=6, monthlies=4, quarterlies=4, leaps=2)
_BIG = ExpiryCycle(weeklies=6, monthlies=4, quarterlies=3, leaps=2)
_CBOE = ("CBOE",)


def _idx(root: str, und: str, cycle: ExpiryCycle, settle: str, ticks: str,
         width: float = 1.0) -> OptionRoot:
    return OptionRoot(root, und, cycle, 100.0, "European", settle, ticks, "Index", _CBOE, width)


_ROOTS = (
    _idx("SPX", "SPX", _INDEX_MONTHLY, "AM", "standard", 0.8),
    _idx("SPXW", "SPX", _INDEX_WEEKLY, "PM", "standard", 0.8),
    _idx("XSP", "XSP", ExpiryCycle(daily_days=7, weeklies=4, monthlies=3, quarterlies=2), "PM",
         "penny"),
    _idx("NDX", "NDX", ExpiryCycle(monthlies=3, quarterlies=2, leaps=1), "AM", "standard", 0.6),
    _idx("NDXP", "NDX", ExpiryCycle(daily_days=5, weeklies=4, monthlies=2), "PM", "standard",
         0.6),
    OptionRoot("SPY", "SPY", _ETF, tick_class="penny_all"),
    OptionRoot("QQQ", "QQQ", _ETF, tick_class="penny_all"),
    OptionRoot("IWM", "IWM", ExpiryCycle(daily_days=7, daily_weekdays=(0, 2, 4), weeklies=5,
                                         monthlies=4, quarterlies=3, leaps=2),
               tick_class="penny_all"),
    *(OptionRoot(s, s, _BIG) for s in ("AAPL", "NVDA", "TSLA", "MSFT", "AMZN", "META", "AMD")),
    OptionRoot("CAKE", "CAKE", ExpiryCycle(weeklies=2, monthlies=3, quarterlies=2, leaps=1),
               tick_class="standard"),
)

_SMALL = ("AAPL", "SPY", "CAKE", "SPX")


def default_universe(today: date, symbols: tuple[str, ...] | None = None) -> SecurityMaster:
    """The default universe as of ``today`` (optionally only some underliers)."""
    unds = tuple(u for u in _UNDERLIERS if symbols is None or u.symbol in symbols)
    keep = {u.symbol for u in unds}
    roots = tuple(r for r in _ROOTS if r.underlier in keep)
    return SecurityMaster(unds, roots, today)


def _series_count(root: OptionRoot, u: Underlier, today: date) -> int:
    near_pct = near_strike_pct(u)
    n = 0
    for d in expiry_dates(root.cycle, today):
        t = max((d - today).days, 0) / 365.0
        n += 2 * len(strike_ladder(u.spot, u.vol, t, near_pct, root.strike_width, u.strike_step))
    return n


def _synthetic_names(rng: np.random.Generator, taken: set[str], n: int) -> list[str]:
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    out: list[str] = []
    while len(out) < n:
        length = int(rng.choice([2, 3, 4], p=[0.05, 0.45, 0.5]))
        name = "".join(rng.choice(letters, length).tolist())
        if name not in taken:
            taken.add(name)
            out.append(name)
    return out


def _synthetic(rng: np.random.Generator, name: str) -> tuple[Underlier, OptionRoot]:
    spot = float(np.clip(np.round(np.exp(rng.normal(np.log(45.0), 1.0)), 2), 2.0, 1500.0))
    vol = float(rng.uniform(0.2, 0.9))
    pays = rng.random() < 0.4
    u = Underlier(
        name, f"{name} Synthetic Corp.", spot, "Equity",
        str(rng.choice(["NASDAQ", "NYSE"])), vol, float(rng.uniform(-0.6, -0.1)),
        float(rng.uniform(0.6, 1.2)),
        div_amount=round(spot * float(rng.uniform(0.002, 0.01)), 2) if pays else 0.0,
        div_months=(_Q_FEB, _Q_MAR, _Q_JAN)[int(rng.integers(3))] if pays else (),
        div_day=int(rng.integers(1, 28)), spread_ticks=int(rng.integers(1, 4)),
        quote_width=float(rng.uniform(0.03, 0.12)),
    )
    cycle = ExpiryCycle(weeklies=5 if rng.random() < 0.25 else 0, monthlies=4,
                        quarterlies=2 if rng.random() < 0.7 else 1,
                        leaps=2 if rng.random() < 0.4 else 0)
    r = OptionRoot(name, name, cycle, tick_class="penny" if rng.random() < 0.1 else "standard")
    return u, r


def build_universe(spec: str, today: date, seed: int = 0) -> SecurityMaster:
    """``default``, ``small``, ``full``, or a number: at least that many series (the
    default universe plus seeded synthetic names)."""
    s = spec.strip().lower()
    if s == "default":
        return default_universe(today)
    if s == "small":
        return default_universe(today, _SMALL)
    try:
        target = FULL_MARKET_SERIES if s == "full" else int(float(s))
    except ValueError:
        raise ValueError(f"universe must be default, small, full or a series count, "
                         f"not {spec!r}") from None
    base = default_universe(today)
    have = len(base.series)
    unds = list(base.underliers)
    roots = list(base.roots)
    rng = np.random.default_rng(seed + 7_919)
    taken = {u.symbol for u in unds} | {r.root for r in roots}
    while have < target:
        for name in _synthetic_names(rng, taken, 64):
            u, r = _synthetic(rng, name)
            unds.append(u)
            roots.append(r)
            have += _series_count(r, u, today)
            if have >= target:
                break
    return SecurityMaster(tuple(unds), tuple(roots), today)
