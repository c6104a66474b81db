"""The broker: the long-lived working object behind one broker key (trading.md §1.2).

A broker holds the current parent order (the effective SpdrParentOrder record, overlaid by its
SpdrParentLimit record where one exists), its status pair, fill totals, live child orders and
what it last published.  It is plain data; the order manager moves it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ...schema import OptionKey
from ._risk import NO_LIMITS
from ._slots import MKT_NAMES
from ._states import START, Status

_MKT_INDEX = {k: i for i, k in enumerate(MKT_NAMES)}

__all__ = ["Broker", "Child", "LimitView", "MarketRow", "market_of"]


class MarketRow(Mapping[str, float]):
    """A broker's row of the manager's market matrix (``BrokerColumns.mkt``), read on demand:
    a re-pricing pass writes the market of 10,000 brokers in one vectorised assignment."""

    __slots__ = ("_cols", "_slot")

    def __init__(self, cols: Any, slot: int) -> None:
        self._cols = cols
        self._slot = slot

    def __getitem__(self, k: str) -> float:
        return float(self._cols.mkt[self._slot, _MKT_INDEX[k]])

    def __iter__(self) -> Iterator[str]:
        return iter(MKT_NAMES)

    def __len__(self) -> int:
        return len(MKT_NAMES)

    def snapshot(self) -> dict[str, float]:
        """The whole row as a dict, read in one go (a record reads ~20 of its values)."""
        return dict(zip(MKT_NAMES, self._cols.mkt[self._slot].tolist(), strict=True))

    def items(self) -> Any:
        return self.snapshot().items()

    def values_list(self) -> list[float]:
        """The row's values in ``MKT_NAMES`` order."""
        return self._cols.mkt[self._slot].tolist()  # type: ignore[no-any-return]


def market_of(b: Broker) -> Mapping[str, float]:
    """``b.mkt`` to read many values from: a ``MarketRow`` read once into a dict."""
    m = b.mkt
    return m.snapshot() if isinstance(m, MarketRow) else m


@dataclass(slots=True)
class Child:
    """One child order at the venue (journaled with the venue's state: ``_venuerow``)."""

    child_id: int
    parent_number: int
    price: float
    size: int
    exch: str
    tif: str  # "IOC" or "Day"
    maker: bool
    post_only: bool
    sent_ns: int
    limit: float  # the effective limit the price was checked against
    bid: float
    ask: float
    #: per-contract metrics signed by side (``_risk.per_unit``: $delta, vega, contracts,
    #: wtVega, rMetric1..7; journals before the wider vector hold the first three)
    risk: tuple[float, ...] = (0.0, 0.0, 0.0)
    #: the parent's parentOrderHandling when the child was sent (a Modify may change the
    #: parent's while the child is in flight; its fills report the handling it was sent under)
    handling: int | None = None
    filled: int = 0
    cancelling: bool = False
    #: the venue acknowledged it (only an acknowledged child can be modified)
    acked: bool = False
    #: a modify in flight: (price, limit, bid, ask[, quiet[, size]]) it takes when the venue
    #: confirms; until then ``price``/``limit``/``size`` stay the venue's (fills report them;
    #: a fill of the whole old size ends the child, the modify then finds nothing to change)
    mod: tuple[Any, ...] | None = None

    @property
    def leaves(self) -> int:
        return self.size - self.filled

    @property
    def shown_leaves(self) -> int:
        """The leaves the broker works the child at: a size modify's once sent (the published
        ladder shows it), else the venue's."""
        m = self.mod
        return (self.size if m is None or len(m) < 6 else int(m[5])) - self.filled

    @property
    def shown_price(self) -> float:
        """The price the broker works the child at: a modify's once sent (the published
        ladder shows it), else the venue's."""
        return self.price if self.mod is None else self.mod[0]


class LimitView(NamedTuple):
    """What the limit kernels last said for the broker (for its records).  A named tuple: a
    re-pricing pass builds 10,000 of them from row tuples (``LimitView._make``-like, without
    a Python ``__init__``)."""

    limit_price: float = math.nan
    take_limit: float = math.nan
    make_limit: float = math.nan
    limit_err: int = 0
    take_err: int = 0
    make_err: int = 0
    take_prob: float = math.nan
    make_prob: float = math.nan
    take_surf: float = math.nan
    make_surf: float = math.nan


@dataclass(slots=True)
class Broker:
    key: tuple[Any, ...]  # SpdrParentBrkrState pkey
    okey: OptionKey
    side: int  # +1 buy, -1 sell
    parent: dict[str, Any]  # the current parent's stored SpdrParentOrder record
    sent: frozenset[str] = frozenset()  # fields the client sent on the current parent
    status: Status = START
    parent_number: int = 0
    base_parent: int = 0
    modify_number: int = 0
    # fill totals: broker (whole chain) and the current parent
    cum: int = 0
    notional: float = 0.0
    u_notional: float = 0.0
    vol_notional: float = 0.0
    cum_vega: float = 0.0
    cum_dd: float = 0.0
    cum_fee: float = 0.0
    parent_cum: int = 0
    parent_notional: float = 0.0
    last_fill_ns: int = 0
    # the SpdrParentLimit record in effect (None: none yet) and the fields its posts carried
    limit: dict[str, Any] | None = None
    limit_sent: frozenset[str] = frozenset()
    # outcome texts
    close_reason: str = "None"
    reject_reason: str = "None"
    comment: str = ""
    hold: str = ""
    # counters
    num_updates: int = 0
    num_new_orders: int = 0
    num_parent_limits: int = 0
    max_progress: int = 0
    event_number: int = 0
    # pending action while closing: ("replace", record, sent) or ("cancel", reason)
    pending: tuple[Any, ...] | None = None
    start_ns: int = 0
    expire_ns: int = 0
    arrive_bid: float = math.nan
    arrive_ask: float = math.nan
    # live children and the last market/limit view
    children: dict[int, Child] = field(default_factory=dict)
    lim: LimitView = field(default_factory=LimitView)
    #: (parentNumber, signature) of the last published state (signature None: unknown, the
    #: next full pass publishes; (0, None): nothing published yet)
    pub_sig: tuple[Any, ...] = (0, None)
    mkt: Mapping[str, float] = field(default_factory=dict)
    risk_size: int = -1
    risk_desc: str = "None"
    risk_detail: str = ""
    #: the risk limits in force (``_risk.Limits``), compiled with the broker's row of inputs
    risk_lims: Any = NO_LIMITS
    last_child_reject: str = ""
    last_child_reject_ns: int = 0
    last_take_qv: int = -2
    #: the makers' total size the size rule wanted when they were sent (§1.6, before the risk
    #: cap), less their fills since: resting makers grow toward it as the headroom grows
    want: int = 0
    #: a risk limit caps it below W (or holds it): in the manager's ``_bound``
    bound: bool = False
    #: when the current exposure began (first maker child sent since the parent or its
    #: progressExposeTime last changed); 0 = not exposed yet
    expose_ns: int = 0
    update_src: str = "New"
    #: live auction's noticeNumber (-1 while starting or orphaned by a restart; 0: none)
    auction: int = 0
    #: journal encodings of ``parent`` / ``limit``, each as (the record encoded, its encoding):
    #: reused while the broker still holds that very record
    enc: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    #: row of the manager's BrokerColumns (-1: none yet)
    slot: int = -1
    #: the broker's journal key ("" until the manager first journals it)
    jkey: str = ""
    #: the manager's sequence numbers (``OrderManager._seq``) of this broker's creation, of
    #: its current parent's opening (its place among its series' open brokers) and of the
    #: creation of its series' entry of open brokers: a restart rebuilds the manager's dicts
    #: in these orders, the orders a straight run works brokers and series in
    made: int = 0
    opened: int = 0
    series_made: int = 0

    # ---------------------------------------------------------------- effective values
    def value(self, name: str) -> Any:
        """The effective value of a limit field: the limit record's when it sent the field,
        else the parent's."""
        if self.limit is not None and name in self.limit_sent:
            return self.limit[name]
        return self.parent[name]

    def sent_or(self, name: str, default: Any) -> Any:
        """The effective value, or ``default`` when neither record carried the field."""
        if self.limit is not None and name in self.limit_sent:
            return self.limit[name]
        return self.parent[name] if name in self.sent else default

    @property
    def order_size(self) -> int:
        return int(self.parent["orderSize"])

    @property
    def active_size(self) -> int:
        """``orderActiveSize`` in effect (-1 = all)."""
        return int(self.sent_or("orderActiveSize", -1))

    def workable(self) -> int:
        """W of §1.6: size released for execution less what is filled (never below 0)."""
        a = self.active_size
        cap = self.order_size if a < 0 else min(self.order_size, a)
        return max(0, cap - self.cum)

    def live_leaves(self) -> int:
        return sum(c.leaves for c in self.children.values())

    @property
    def avg_price(self) -> float:
        return self.notional / self.cum if self.cum else 0.0
