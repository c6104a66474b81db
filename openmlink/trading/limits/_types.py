"""Column sets of the limit kernels: orders in, market in, limits out (one row per order).

All columns are 1-D NumPy arrays of one length; missing values are NaN (floats).  Enum columns
hold schema ordinals (see ``_enums``).  ``blank(n)`` builds a set of the right dtypes with the
schema defaults, so a caller fills only what it knows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray

from ._enums import LIMIT_CLASS, LIMIT_ERR, LIMIT_TYPE, PRICE_TYPE

__all__ = ["LimitModel", "LimitResult", "OrderLimits", "SeriesMarket"]

F64 = NDArray[np.float64]


class _Columns:
    """What every column set shares (each is a dataclass of 1-D arrays of one length)."""

    @classmethod
    def _blank(cls, n: int, fill: dict[str, Any]) -> Self:
        """``n`` rows: ``fill``'s value per column, else NaN (floats) or 0.  The columns of
        one dtype are the rows of one 2-D block filled at once (a tick's few orders paid ~2 us
        per ``np.full`` of ~70 columns)."""
        cols: dict[str, Any] = {}
        for dtype, names, defaults in _layout(cls, tuple(sorted(fill.items()))):  # type: ignore[arg-type]
            block = np.empty((len(names), n), dtype)
            block[:] = defaults
            cols.update(zip(names, block, strict=True))
        return cls(**cols)

    def take(self, idx: NDArray[np.int64] | NDArray[np.bool_]) -> Self:
        """The rows ``idx`` (an index or a mask), as a new set."""
        return type(self)(**{f.name: getattr(self, f.name)[idx]
                             for f in fields(self)})  # type: ignore[arg-type]

    def __len__(self) -> int:
        """Length of the columns; raises ValueError naming the first column that is not 1-D
        or whose length differs."""
        n = -1
        for f in fields(self):  # type: ignore[arg-type]
            a = getattr(self, f.name)
            if not isinstance(a, np.ndarray) or a.ndim != 1:
                raise ValueError(f"{type(self).__name__}.{f.name}: expected a 1-D NumPy array")
            if n < 0:
                n = len(a)
            elif len(a) != n:
                raise ValueError(f"{type(self).__name__}.{f.name}: length {len(a)}, expected {n}")
        return max(n, 0)


@functools.cache
def _layout(cls: type, fill: tuple[tuple[str, Any], ...]
            ) -> list[tuple[Any, tuple[str, ...], np.ndarray]]:
    """``_blank``'s plan for ``cls``: per dtype, the column names and their defaults (a
    column of the block's shape (k, 1))."""
    given = dict(fill)
    by: dict[Any, list[str]] = {}
    for f in fields(cls):
        by.setdefault(_DTYPES.get(f.name, np.float64), []).append(f.name)
    return [(dt, tuple(names), np.array([[given.get(nm, np.nan if dt == np.float64 else 0)]
                                         for nm in names], dt))
            for dt, names in by.items()]


_DTYPES: dict[str, Any] = {
    "side": np.int8, "limit_type": np.int16, "take_class": np.int16, "make_class": np.int16,
    "has_aux": np.bool_, "cp": np.int8, "american": np.bool_, "price_type": np.int16,
    "limit_err": np.int16, "take_err": np.int16, "make_err": np.int16,
}


@dataclass
class OrderLimits(_Columns):
    """One row per working order: the limit fields of its SpdrParentOrder, overlaid by its
    SpdrParentLimit record when it has one (the caller does the overlay).

    ``side`` +1 buy / -1 sell.  ``limit_type`` is a SpdrLimitType ordinal (``LIMIT_TYPE``);
    for an Aux order with a limit record pass the record's ``orderLimitType`` (the seed's
    record switches Aux to Vol); a row whose type is still Aux uses the record's
    ``orderPrcLimit`` (Prc) when positive, else its ``orderVolLimit`` (Vol).  ``has_aux`` says
    a limit record exists (an Aux row without one gets ``AuxLimit``).  ``take_class`` /
    ``make_class`` are SpdrLimitClass ordinals (``LIMIT_CLASS``).  ``ref_uprc``,
    ``ref_delta``, ``ref_gamma`` NaN = defaults (PrcDe: the caller should freeze the arrival
    underlier mid into ``ref_uprc``; delta/gamma default to the series' live de/ga).
    ``take_prob`` / ``make_prob`` are the static probabilities p in (0, 1).
    ``arrive_bid`` / ``arrive_ask``: the option NBBO frozen at arrival (MarketArrival).
    Offsets: surface vol offsets are decimal vol by default (``LimitModel.vol_offset_unit``),
    price offsets in price units, width offsets in [-1, +1] half-widths.
    """

    side: NDArray[np.int8]
    limit_type: NDArray[np.int16]
    prc_limit: F64
    vol_limit: F64
    prc_offset: F64
    ref_uprc: F64
    ref_delta: F64
    ref_gamma: F64
    take_class: NDArray[np.int16]
    make_class: NDArray[np.int16]
    take_prob: F64
    make_prob: F64
    take_surf_vol_off: F64
    make_surf_vol_off: F64
    take_surf_prc_off: F64
    make_surf_prc_off: F64
    take_surf_width_off: F64
    make_surf_width_off: F64
    has_aux: NDArray[np.bool_]
    arrive_bid: F64
    arrive_ask: F64

    @classmethod
    def blank(cls, n: int) -> OrderLimits:
        """n buy rows of type Prc, class Simple, no limit record, zero offsets, NaN elsewhere."""
        zero = {k: 0.0 for k in ("prc_offset", "take_surf_vol_off", "make_surf_vol_off",
                                 "take_surf_prc_off", "make_surf_prc_off",
                                 "take_surf_width_off", "make_surf_width_off")}
        return cls._blank(n, {"side": 1, "limit_type": LIMIT_TYPE["Prc"],
                              "take_class": LIMIT_CLASS["Simple"],
                              "make_class": LIMIT_CLASS["Simple"], "has_aux": False, **zero})


@dataclass
class SeriesMarket(_Columns):
    """The market of each order's series, row-aligned with ``OrderLimits``.

    ``bid``/``ask``/sizes: the option NBBO (OptionNbboQuote; bid 0 = no bid).  ``u_bid``,
    ``u_ask``, ``u_prc``: underlier market and the LiveImpliedQuote ``uPrc``; ``u_off`` its
    ``uOff`` (forward - uPrc for Future pricing, 0 for Equity); ``ddiv`` its PV of cash
    dividends.  ``s_vol``, ``s_prc``, ``s_mark``, ``de``, ``ga``, ``years``, ``rate``,
    ``sdiv``: LiveImpliedQuote.  ``strike``, ``cp`` (+1 call / -1 put), ``american`` (exercise
    style of the root), ``price_type`` (CalcPriceType ordinal: Equity = American BAW on
    uPrc - ddiv with carry sdiv; Future = Black-76 on uPrc + uOff).  ``avg_width``: 10-minute
    average NBBO width (pass the current width when unknown).  ``tick_below3`` /
    ``tick_above3``: the series' tick sizes below / at-or-above 3.00 (``tick_sizes``).
    """

    bid: F64
    ask: F64
    bid_size: F64
    ask_size: F64
    u_bid: F64
    u_ask: F64
    u_prc: F64
    u_off: F64
    ddiv: F64
    s_vol: F64
    s_prc: F64
    s_mark: F64
    de: F64
    ga: F64
    years: F64
    rate: F64
    sdiv: F64
    strike: F64
    cp: NDArray[np.int8]
    american: NDArray[np.bool_]
    price_type: NDArray[np.int16]
    avg_width: F64
    tick_below3: F64
    tick_above3: F64

    @classmethod
    def blank(cls, n: int) -> SeriesMarket:
        """n rows with NaN market values, calls, Equity pricing, penny-pilot ticks."""
        return cls._blank(n, {"u_off": 0.0, "ddiv": 0.0, "cp": 1, "american": True,
                              "price_type": PRICE_TYPE["Equity"], "tick_below3": 0.01,
                              "tick_above3": 0.05})


@dataclass
class LimitResult(_Columns):
    """Per order: ``limit_price`` = primary limit P (NaN when it has none, see ``limit_err``);
    ``take_limit`` / ``make_limit`` = effective limits after the limit class (NaN when none;
    their own error in ``take_err`` / ``make_err``); ``take_prob_limit`` /
    ``make_prob_limit`` = the probability p used (NaN when the class has none); ``take_surf``
    / ``make_surf`` = the surface limit S and ``take_prob_prc`` / ``make_prob_prc`` = the
    probability limit price (NaN when not computed) so a user can see which one bound.
    Prices are not rounded to the tick (``round_to_tick`` does that when children are priced).
    """

    limit_price: F64
    take_limit: F64
    make_limit: F64
    limit_err: NDArray[np.int16]
    take_err: NDArray[np.int16]
    make_err: NDArray[np.int16]
    take_prob_limit: F64
    make_prob_limit: F64
    take_surf: F64
    make_surf: F64
    take_prob_prc: F64
    make_prob_prc: F64

    @classmethod
    def blank(cls, n: int) -> LimitResult:
        return cls._blank(n, {"limit_err": LIMIT_ERR["None"], "take_err": LIMIT_ERR["None"],
                              "make_err": LIMIT_ERR["None"]})


@dataclass(frozen=True)
class LimitModel:
    """Model constants of the limits (the spec's [I] choices; see docs/trading-limits.md).

    ``vol_offset_unit``: multiplier of ``*SurfVolOffset`` into decimal vol (1.0: 0.1 = 10
    vol points; 0.01: offsets are vol points).  ``prob_kappa``: sigma of the fair-value
    distribution in average NBBO widths.  ``market_ticks``: ticks through the opposite NBBO of
    a Market limit.  ``vol_min``/``vol_max``: accepted ``orderVolLimit`` range.
    ``wide_width_ticks`` and ``wide_width_frac``: an NBBO wider than both this many ticks and
    this fraction of its mid is WideOptNbbo for the limits that lean on the NBBO (Market,
    Rel*, Probability).
    """

    vol_offset_unit: float = 1.0
    prob_kappa: float = 0.5
    market_ticks: int = 3
    vol_min: float = 0.005
    vol_max: float = 9.0
    wide_width_ticks: float = 50.0
    wide_width_frac: float = 1.0
