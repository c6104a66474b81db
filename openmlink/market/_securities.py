"""Securities: underliers, option roots, their series, and the security master.

Keying (decided for openmlink; see the report on the market issue):

* an underlier is ``TickerKey("EQT", "NMS", SYMBOL)`` — also for cash indices (``SPX-NMS-EQT``,
  as the spec's own examples write), with ``TickerDefinition.symbolType = CashIndex``;
* an option series is keyed by its **OSI root**: ``OptionKey("EQT", "NMS", ROOT, dt, xx, cp)``,
  so SPX AM-settled monthlies are ``SPX-NMS-EQT-…`` and the PM-settled weeklies/dailies are
  ``SPXW-NMS-EQT-…`` (the stripe table of spec 3.2.5 lists SPX, SPXW and XSP as separate
  symbols, and on a third Friday both roots list the same date and strike, so the root is
  what keeps the keys apart). ``RootDefinition`` links a root to its underlier ticker.

``SecurityMaster`` is the query object other engines use: spot reference, dividends, exercise
style, settlement instant per expiry and multiplier, by underlier or by root symbol.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, time, timedelta

import numpy as np

from ..schema import OptionKey, TickerKey
from ..timeutil import NS_PER_DAY, NS_PER_YEAR
from ._calendar import (
    CLOSE_TIME,
    OPEN_TIME,
    ExpiryCycle,
    expiry_dates,
    is_trading_day,
    local_ns,
    next_trading_day,
    previous_trading_day,
)

__all__ = [
    "Dividend",
    "OptionRoot",
    "SecurityMaster",
    "SeriesTable",
    "Underlier",
    "near_strike_pct",
    "strike_ladder",
]

_EPOCH = date(1970, 1, 1)
#: OptExch members quoting multiply-listed classes (ordinals looked up by the quoter)
MULTI_LISTED = ("CBOE", "ISE", "PHLX", "AMEX", "BOX", "NSDQ", "BATS", "C2", "MIAX", "GMNI",
                "EDGO", "MCRY", "MPRL", "NQBX", "MEMX", "EMLD", "SPHR")


@dataclass(frozen=True, slots=True)
class Dividend:
    """A cash dividend per share, paid to holders on ``ex_date`` eve."""

    ex_date: date
    amount: float


@dataclass(frozen=True, slots=True)
class Underlier:
    """A stock, ETF or cash index with its simulation parameters.

    ``vol``: long-run ATM implied vol (annualised); ``skew``: SSVI correlation rho (negative
    for equity skew); ``vol_of_vol``: Heston xi; ``div_amount``/``div_months``/``div_day``: a
    regular cash dividend and its ex-date months and day of month; ``div_yield``: continuous
    dividend yield (indices); ``spread_ticks``: stock NBBO width in cents; ``quote_width``:
    relative option quote width (0.01 = 1% of the option price).
    """

    symbol: str
    name: str
    spot: float
    symbol_type: str = "Equity"  # SymbolType member: Equity, ETF, CashIndex
    primary_exch: str = "NASDAQ"  # PrimaryExchange member
    vol: float = 0.30
    skew: float = -0.45
    vol_of_vol: float = 0.8
    div_amount: float = 0.0
    div_months: tuple[int, ...] = ()
    div_day: int = 10
    div_yield: float = 0.0
    spread_ticks: int = 1
    quote_width: float = 0.03
    shares_out_k: int = 0
    strike_step: float = 0.0  # near-the-money strike interval (0 = from the spot level)

    @property
    def ticker(self) -> TickerKey:
        return TickerKey("EQT", "NMS", self.symbol)

    @property
    def is_index(self) -> bool:
        return self.symbol_type == "CashIndex"


@dataclass(frozen=True, slots=True)
class OptionRoot:
    """An option class: root symbol, contract terms and listing cycle.

    ``tick_class``: ``penny_all`` ($0.01 at every price), ``penny`` ($0.01 below $3, $0.05
    above) or ``standard`` ($0.05 below $3, $0.10 above). ``settlement``: ``AM`` (settles on
    the expiry day's opening prices, last trade the day before) or ``PM`` (the close).
    """

    root: str
    underlier: str
    cycle: ExpiryCycle
    multiplier: float = 100.0
    exercise: str = "American"  # ExerciseType member
    settlement: str = "PM"  # ExerciseTime member
    tick_class: str = "penny"
    option_type: str = "Equity"  # OptionType member
    exchanges: tuple[str, ...] = MULTI_LISTED
    strike_width: float = 1.0  # ladder width multiplier

    @property
    def key(self) -> TickerKey:
        return TickerKey("EQT", "NMS", self.root)

    @property
    def cash_settled(self) -> bool:
        return self.option_type == "Index"

    def ticks(self) -> tuple[float, float]:
        """(tick below $3, tick at $3 and above)."""
        return {"penny_all": (0.01, 0.01), "penny": (0.01, 0.05),
                "standard": (0.05, 0.10)}[self.tick_class]

    def price_inc(self) -> str:
        """OptPriceInc member name of the tick class."""
        return {"penny_all": "FullPenny", "penny": "PartPenny",
                "standard": "PartNickle"}[self.tick_class]

    def expiration_ns(self, expiry: date) -> int:
        """The settlement instant: 9:30 New York on the expiry day for AM-settled series,
        16:00 for PM-settled."""
        return local_ns(expiry, OPEN_TIME if self.settlement == "AM" else CLOSE_TIME)

    def last_trade_date(self, expiry: date) -> date:
        """AM-settled series stop trading the trading day before expiry."""
        return previous_trading_day(expiry) if self.settlement == "AM" else expiry


def near_strike_pct(u: Underlier) -> float:
    """Near-the-money strike interval as a fraction of spot (when not given)."""
    return 0.002 if u.symbol_type != "Equity" else 0.01


_STEPS = (0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0)


def _nice_step(x: float) -> float:
    for s in _STEPS:
        if s >= x:
            return s
    return _STEPS[-1]


def strike_ladder(spot: float, vol: float, t_years: float, near_pct: float,
                  width: float = 1.0, step: float = 0.0) -> np.ndarray:
    """Listed strikes of one expiry: a fine step near the money, five times coarser in the
    wings, covering about +-3.5 standard deviations (at least +-10%) of the spot."""
    sd = vol * np.sqrt(max(t_years, 1.0 / 365.0))
    step = step or _nice_step(spot * near_pct)
    near = spot * min(0.6, max(0.03, 0.6 * sd) * width)
    far = spot * min(0.9, max(0.10, 3.5 * sd) * width)
    lo_near = np.floor((spot - near) / step) * step
    hi_near = np.ceil((spot + near) / step) * step
    fine = np.arange(lo_near, hi_near + step / 2, step)
    wide = step * 5
    lo = max(wide, np.floor((spot - far) / wide) * wide)
    hi = np.ceil((spot + far) / wide) * wide
    coarse = np.arange(lo, hi + wide / 2, wide)
    ks = np.unique(np.round(np.concatenate([fine, coarse]), 4))
    return ks[ks > 0]


@dataclass
class SeriesTable:
    """Every listed series as columns (one row per option; calls and puts separate rows).

    ``root_idx``/``und_idx`` index ``SecurityMaster.roots``/``.underliers``; ``exp_idx``
    indexes ``expiries`` (one row per (root, expiry) pair); ``dt_days`` is the expiry date
    as days since 1970-01-01; ``cp`` is 0 for a call, 1 for a put; ``tk`` holds the root
    symbols (object array of str, the ``okey.tk`` column).
    """

    root_idx: np.ndarray
    und_idx: np.ndarray
    exp_idx: np.ndarray
    dt_days: np.ndarray
    strike: np.ndarray
    cp: np.ndarray
    tk: np.ndarray
    exp_root: np.ndarray  # per expiry: root index
    exp_date_days: np.ndarray  # per expiry: dt days
    exp_ns: np.ndarray  # per expiry: settlement instant

    def __len__(self) -> int:
        return len(self.strike)

    def key(self, i: int) -> OptionKey:
        d = _EPOCH + timedelta(days=int(self.dt_days[i]))
        return OptionKey("EQT", "NMS", str(self.tk[i]), d.isoformat(), float(self.strike[i]),
                         "Call" if self.cp[i] == 0 else "Put")

    def keys(self) -> Iterator[OptionKey]:
        for i in range(len(self)):
            yield self.key(i)


@dataclass
class SecurityMaster:
    """Underliers, roots and listed series as of ``today`` (a trading date).

    Query by underlier symbol or by root symbol: ``spot``, ``dividends``, ``exercise_style``,
    ``multiplier``, ``settlement_ns``, ``expiries``, ``roots_of``.
    """

    underliers: tuple[Underlier, ...]
    roots: tuple[OptionRoot, ...]
    today: date
    series: SeriesTable = field(init=False)
    _und_by_sym: dict[str, int] = field(init=False, repr=False)
    _root_by_sym: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._und_by_sym = {u.symbol: i for i, u in enumerate(self.underliers)}
        self._root_by_sym = {r.root: i for i, r in enumerate(self.roots)}
        for r in self.roots:
            if r.underlier not in self._und_by_sym:
                raise ValueError(f"root {r.root} names unknown underlier {r.underlier}")
        self.series = self._build_series()

    # ------------------------------------------------------------------ construction
    def _build_series(self) -> SeriesTable:
        today_close = local_ns(self.today, CLOSE_TIME)
        cols: dict[str, list[np.ndarray]] = {k: [] for k in ("root", "exp", "dt", "k", "cp")}
        exp_root: list[int] = []
        exp_days: list[int] = []
        exp_ns: list[int] = []
        for ri, r in enumerate(self.roots):
            u = self.underliers[self._und_by_sym[r.underlier]]
            near_pct = near_strike_pct(u)
            for d in expiry_dates(r.cycle, self.today):
                ens = r.expiration_ns(d)
                if ens <= today_close - 10 * NS_PER_DAY:
                    continue
                t = max(ens - today_close, 0) / NS_PER_YEAR
                ks = strike_ladder(u.spot, u.vol, t, near_pct, r.strike_width, u.strike_step)
                n = len(ks)
                ei = len(exp_root)
                exp_root.append(ri)
                days = (d - _EPOCH).days
                exp_days.append(days)
                exp_ns.append(ens)
                cols["root"].append(np.full(2 * n, ri, np.int32))
                cols["exp"].append(np.full(2 * n, ei, np.int32))
                cols["dt"].append(np.full(2 * n, days, np.int32))
                cols["k"].append(np.concatenate([ks, ks]))
                cols["cp"].append(np.repeat(np.array([0, 1], np.int8), n))
        if not exp_root:
            raise ValueError("the universe lists no option series")
        root_idx = np.concatenate(cols["root"])
        und_of_root = np.array([self._und_by_sym[r.underlier] for r in self.roots], np.int32)
        root_names = np.array([r.root for r in self.roots], dtype=object)
        return SeriesTable(
            root_idx=root_idx,
            und_idx=und_of_root[root_idx],
            exp_idx=np.concatenate(cols["exp"]),
            dt_days=np.concatenate(cols["dt"]),
            strike=np.concatenate(cols["k"]),
            cp=np.concatenate(cols["cp"]),
            tk=root_names[root_idx],
            exp_root=np.array(exp_root, np.int32),
            exp_date_days=np.array(exp_days, np.int32),
            exp_ns=np.array(exp_ns, np.int64),
        )

    # ------------------------------------------------------------------ queries
    def underlier(self, symbol: str) -> Underlier:
        """The underlier of a ticker or of an option root symbol."""
        i = self._und_by_sym.get(symbol)
        if i is None:
            r = self.root(symbol)
            i = self._und_by_sym[r.underlier]
        return self.underliers[i]

    def underlier_index(self, symbol: str) -> int:
        return self._und_by_sym[self.underlier(symbol).symbol]

    def root(self, symbol: str) -> OptionRoot:
        """An option root by root symbol (``SPXW``), or the main root of an underlier."""
        i = self._root_by_sym.get(symbol)
        if i is None:
            raise KeyError(f"no option root {symbol!r}")
        return self.roots[i]

    def has_root(self, symbol: str) -> bool:
        return symbol in self._root_by_sym

    def roots_of(self, symbol: str) -> list[OptionRoot]:
        return [r for r in self.roots if r.underlier == symbol]

    def spot(self, symbol: str) -> float:
        """Reference spot of the universe definition (the simulator moves from it)."""
        return self.underlier(symbol).spot

    def multiplier(self, root: str) -> float:
        return self.root(root).multiplier

    def exercise_style(self, root: str) -> str:
        """``American`` or ``European`` (ExerciseType member names)."""
        return self.root(root).exercise

    def settlement(self, root: str) -> str:
        """``AM`` or ``PM`` (ExerciseTime member names)."""
        return self.root(root).settlement

    def settlement_ns(self, root: str, expiry: date | str) -> int:
        """Settlement instant of one expiry of a root (ns since the epoch)."""
        d = date.fromisoformat(expiry) if isinstance(expiry, str) else expiry
        return self.root(root).expiration_ns(d)

    def expiries(self, root: str) -> list[date]:
        ri = self._root_by_sym[root]
        s = self.series
        days = s.exp_date_days[s.exp_root == ri]
        return [_EPOCH + timedelta(days=int(d)) for d in days]

    def dividends(self, symbol: str, start: date | None = None,
                  end: date | None = None) -> list[Dividend]:
        """Projected cash dividends with ex-date in [start, end] (default: today + 3 years).

        Ex-dates fall on ``div_day`` of each ``div_months`` month, moved to the next trading
        day when that is not one. Indices pay a continuous yield instead (``div_yield``)."""
        u = self.underlier(symbol)
        start = start or self.today
        end = end or start + timedelta(days=3 * 366)
        out: list[Dividend] = []
        if not u.div_months or u.div_amount <= 0:
            return out
        for y in range(start.year, end.year + 1):
            for m in u.div_months:
                d = date(y, m, min(u.div_day, 28))
                while not is_trading_day(d):
                    d = next_trading_day(d)
                if start <= d <= end:
                    out.append(Dividend(d, u.div_amount))
        return sorted(out, key=lambda x: x.ex_date)

    def dividend_yield(self, symbol: str) -> float:
        return self.underlier(symbol).div_yield

    def tickers(self) -> list[TickerKey]:
        return [u.ticker for u in self.underliers]

    def option_roots(self) -> Iterable[OptionRoot]:
        return iter(self.roots)

    def session_close_ns(self, d: date) -> int:
        return local_ns(d, CLOSE_TIME)

    def open_ns(self, d: date) -> int:
        return local_ns(d, time(9, 30))
