"""Positions per (security, accnt, tradeDate, riskSession, clientFirm): start-of-day plus the
day's fills (sans-I/O; fed SpdrParentExecution records, never reads a clock)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...schema import OptionKey, TickerKey

__all__ = ["Fill", "OptPos", "PositionBook", "StkPos"]

#: (okey or ticker, accnt, tradeDate (days since epoch), riskSession ordinal, clientFirm)
PosKey = tuple[Any, str, int, int, str]


@dataclass
class Fill:
    """What a position keeps of one execution version (to apply corrections as deltas)."""

    qty: int  # signed: + bought, - sold
    price: float
    pv: float  # money multiplier (pointValue for options, 1 for stock)


@dataclass
class OptPos:
    okey: OptionKey
    opn: int = 0
    opn_mark: float = float("nan")
    bot: int = 0
    sld: int = 0
    mny_bot: float = 0.0  # sum price * qty * pointValue
    mny_sld: float = 0.0
    n_exec: int = 0
    max_dttm: int = 0
    point_value: float = 100.0
    upc: int = 100  # underliersPerCn

    @property
    def cur(self) -> int:
        return self.opn + self.bot - self.sld


@dataclass
class StkPos:
    ticker: TickerKey
    opn: int = 0
    opn_mark: float = float("nan")
    bot: int = 0
    sld: int = 0
    sld_shrt: int = 0
    mny_bot: float = 0.0
    mny_sld: float = 0.0
    bot_hdg: int = 0
    sld_hdg: int = 0
    n_exec: int = 0
    max_dttm: int = 0

    @property
    def cur(self) -> int:
        return self.opn + self.bot - self.sld


class PositionBook:
    """Options and stock positions with the fills applied to them (by fillNumber, so a
    re-published version replaces its previous one instead of counting twice)."""

    def __init__(self) -> None:
        self.options: dict[PosKey, OptPos] = {}
        self.stocks: dict[PosKey, StkPos] = {}
        self.fills: dict[int, tuple[int, PosKey, Fill, bool]] = {}  # fillNumber -> version..

    # ---------------------------------------------------------------- start of day
    def set_option_open(self, key: PosKey, qty: int, mark: float, point_value: float,
                        upc: int) -> OptPos:
        p = self.options.get(key) or self.options.setdefault(key, OptPos(key[0]))
        p.opn, p.opn_mark, p.point_value, p.upc = qty, mark, point_value, upc
        return p

    def set_stock_open(self, key: PosKey, qty: int, mark: float) -> StkPos:
        p = self.stocks.get(key) or self.stocks.setdefault(key, StkPos(key[0]))
        p.opn, p.opn_mark = qty, mark
        return p

    # ---------------------------------------------------------------- fills
    def apply(self, fill_number: int, version: int, key: PosKey, is_option: bool, fill: Fill,
              dttm: int, hedge: bool = False, point_value: float = 100.0, upc: int = 100
              ) -> bool:
        """Apply one execution version (qty 0 for a bust); False when this version or a later
        one was already applied."""
        prev = self.fills.get(fill_number)
        if prev is not None and prev[0] >= version:
            return False
        if prev is not None:
            self._add(prev[1], prev[3], prev[2], 0, hedge, point_value, upc, count=-1)
        self._add(key, is_option, fill, dttm, hedge, point_value, upc, count=1)
        self.fills[fill_number] = (version, key, fill, is_option)
        return True

    def _add(self, key: PosKey, is_option: bool, f: Fill, dttm: int, hedge: bool,
             point_value: float, upc: int, count: int) -> None:
        """Add (count 1) or remove (count -1) one fill version."""
        q = f.qty
        mny = count * abs(q) * f.price * f.pv
        p: OptPos | StkPos
        if is_option:
            p = self.options.get(key) or self.options.setdefault(
                key, OptPos(key[0], point_value=point_value, upc=upc))
        else:
            p = self.stocks.get(key) or self.stocks.setdefault(key, StkPos(key[0]))
            if hedge and q > 0:
                p.bot_hdg += count * q
            elif hedge:
                p.sld_hdg += count * -q
        if q > 0:
            p.bot += count * q
            p.mny_bot += mny
        else:
            p.sld += count * -q
            p.mny_sld += mny
        p.n_exec += count
        p.max_dttm = max(p.max_dttm, dttm)
