"""The order manager (trading.md §1-§2, §6): works SpdrParentOrder posts through the
transition table of ``_states``, prices children with the limit kernels, sends them to the
simulated venue and publishes SpdrParentBrkrState / SpdrParentBrkrEvent / SpdrParentExecution
/ RiskGroupCounter.

Sans-I/O: the caller (``_adapter``) feeds it stored records, market changes and timer ticks;
records go out through ``publish``.  Each input is one *step*: the step's state changes are
journaled in one atomic commit, and only then are its records published (durable before
visible).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable, Iterable, Iterator
from operator import attrgetter
from typing import Any, cast

import numpy as np
import orjson

from ...clock import Clock
from ...market import session_state
from ...schema import MsgType, OptionKey, Registry, decode_record, fitted, message_encoder, registry
from ...srse import JournalStore
from ...store import Store
from ..limits import (
    LIMIT_ERR,
    LIMIT_TYPE,
    OrderLimits,
    PriceMemo,
    child_prices,
    child_size,
    compute_limits,
    split_size,
)
from ..venue import ChildOrder, SimVenue, VenueConfig, VenueEvent, exchanges_of
from ._auctions import (
    AuctionHook,
    auction_cross,
    auction_end,
    auction_risk,
    is_auction,
    open_auction,
    responder_fill,
    restored_auction,
    start_auction,
)
from ._batch import StateBatch, no_gc, pk_columns, state_columns
from ._broker import Broker, Child, LimitView, MarketRow, market_of
from ._config import TradingConfig
from ._execs import ExecBook, adjust_fill, fill_row, restore_execs, take_due
from ._market import MarketReader
from ._records import counter_record, event_record, execution_record, name_of, state_record
from ._risk import (
    RM_FIELDS,
    Counter,
    Limits,
    RiskBook,
    compile_limits,
    control_limits,
    ema_breach,
    headroom_grew,
    per_unit,
    risk_limit_size,
)
from ._slots import MKT_NAMES, BrokerColumns
from ._states import (
    CLOSED,
    CLOSING,
    NEW_ACTIVE,
    NEW_HOLD,
    PEND_NEW,
    REJECTED,
    Status,
    check_transition,
    is_open,
)
from ._stock import is_stock
from ._validate import validate_order
from ._venuerow import VenueRows, restore_venue

__all__ = ["OrderManager"]

log = logging.getLogger("openmlink.trading.orders")

PO, PL, PC = "SpdrParentOrder", "SpdrParentLimit", "SpdrParentCancel"
BS, BE, EX, RGC = "SpdrParentBrkrState", "SpdrParentBrkrEvent", "SpdrParentExecution", \
    "RiskGroupCounter"
_AUX = LIMIT_TYPE["Aux"]
#: in a journaled parent row: [sent fields, ns, arrival bid, ask] of a plain open whose broker
#: body was owed to a later commit (``_owed``; a restart rebuilds the broker from the row)
_OPENED = "_opened"
_OWED_MAX = 4096
#: fast re-pricing passes journaled as their own ``pxp`` row before one row holds them all
_PXP_DELTAS = 16
_POSTONLY = "PostOnly"
_PROGRESS = ("None", "Initialize", "Rejected", "PreOpen", "RiskHold", "Working", "ChkRte",
             "RteRej", "WaitAction", "InMarket", "Filling", "Filled", "PendingClose", "Closed",
             "HedgeHold")
_PROGRESS_AT = {name: i for i, name in enumerate(_PROGRESS)}
#: the float columns of ``OrderLimits`` by their column in a broker's row (``_order_row``)
_FLOAT_ROWS = ((2, "prc_limit"), (3, "vol_limit"), (4, "prc_offset"), (5, "ref_uprc"),
               (6, "ref_delta"), (7, "ref_gamma"), (10, "take_prob"), (11, "make_prob"),
               (12, "take_surf_vol_off"), (13, "make_surf_vol_off"), (14, "take_surf_prc_off"),
               (15, "make_surf_prc_off"), (16, "take_surf_width_off"),
               (17, "make_surf_width_off"), (19, "arrive_bid"), (20, "arrive_ask"))
_LIMIT_FIELDS = ("orderLimitType", "orderPrcLimit", "orderVolLimit", "orderPrcOffset",
                 "orderRefUPrc", "orderRefDelta", "orderRefGamma", "takeLimitClass",
                 "makeLimitClass", "takeProbability", "makeProbability", "takeSurfVolOffset",
                 "makeSurfVolOffset", "takeSurfPrcOffset", "makeSurfPrcOffset",
                 "takeSurfWidthOffset", "makeSurfWidthOffset")


class OrderManager:
    def __init__(self, reg: Registry, store: Store, clock: Clock,
                 publish: Callable[[MsgType, dict[str, Any]], None], *,
                 journal: JournalStore | None = None, config: TradingConfig | None = None,
                 venue_config: VenueConfig | None = None,
                 master_fn: Callable[[], Any] = lambda: None,
                 publish_batch: Callable[[MsgType, dict[str, np.ndarray]], None] | None = None
                 ) -> None:
        """``publish_batch``: publishes many records of a type as columns (the re-pricing fast
        path); without it every state is published as a record."""
        self.reg = reg
        self.publish_batch = publish_batch
        self.store = store
        self.clock = clock
        self.publish = publish
        self.journal = journal
        self.config = config or TradingConfig()
        self.mt = {n: reg[n] for n in (PO, PL, PC, BS, BE, EX, RGC)}
        self.market = MarketReader(store, reg, clock, master_fn)
        self.venue = SimVenue(self.market.nbbo, venue_config or VenueConfig(
            ticks=self._ticks),
            self.config.seed)
        if journal is not None:
            self.venue.track()  # what changes between two commits, for the venue's delta rows
        self.rng = np.random.default_rng(self.config.seed)
        self.risk = RiskBook()
        self.brokers: dict[tuple[Any, ...], Broker] = {}
        self.parents: dict[int, tuple[Any, ...]] = {}  # every parentNumber seen -> broker key
        #: open brokers by series (insertion order: a re-pricing pass works them in it; the
        #: series in the order their entries were made: the order the venue re-reads them in)
        self.by_series: dict[OptionKey, dict[tuple[Any, ...], Broker]] = {}
        #: the sequence number of each ``by_series`` entry's creation
        self._series_made: dict[OptionKey, int] = {}
        #: numbers the creation of brokers and ``by_series`` entries and the opening of
        #: parents (``Broker.made``/``opened``/``series_made``), journaled with each broker
        self._seq = 0
        self.owner: dict[int, tuple[Any, ...]] = {}  # live child id -> broker key
        self.child_of: dict[int, Child] = {}  # live child id -> the child (beside ``owner``)
        self.fill_seq = 0
        #: marks and busts/corrections owed to recent executions (``_execs``)
        self.execs = ExecBook()
        self._journaled_fill_seq = 0  # the fill_seq in the journal's meta row
        #: the journal's venue rows: a full row now and then, deltas in between (``_venuerow``)
        self.venue_rows = VenueRows()
        self.child_seq = (clock.time_ns() // 1_000_000_000 % (1 << 31)) << 20
        self.fills_published = 0
        self._out: list[tuple[str, dict[str, Any] | StateBatch]] = []
        self._puts: list[tuple[str, str, bytes]] = []
        self._deletes: list[tuple[str, str]] = []  # journal rows the next commit deletes
        self._pxp_seq = 0  # the last packed re-pricing row's number (``_journal_moves``)
        self._pxp_keys: list[str] = []  # the ``pxp`` rows in the journal
        self._dirty: set[tuple[Any, ...]] = set()
        #: brokers opened by a post whose body is not journaled yet: written by the next
        #: commit (the post's own commit holds the parent row a restart rebuilds them from)
        self._owed: set[tuple[Any, ...]] = set()
        self._hold_owed = False  # this flush is a plain open's: what is owed stays owed
        self._groups_dirty: set[tuple[str, str, int]] = set()
        self._reprice: set[tuple[Any, ...]] = set()
        #: brokers accepted (PendNew) and not yet worked: priced together on the next tick
        self._new: set[tuple[Any, ...]] = set()
        self.cols = BrokerColumns()
        #: model prices of the limits by exact inputs (a quote-only move re-prices nothing)
        self.limit_memo = PriceMemo()
        #: the market session at the last tick (a change re-works session-bound brokers)
        self._session = ""
        #: brokers to re-work at a time (progressExposeTime ends): key -> ns
        self._wake: dict[tuple[Any, ...], int] = {}
        #: brokers with an expiry (orderDuration, goodTillDttm): key -> expire_ns
        self._expiry: dict[tuple[Any, ...], int] = {}
        #: brokers a risk limit caps below their workable size (or holds), by (accnt, firm):
        #: re-worked when a counter of their account moves (a fill on the other side, a bust,
        #: an IOC's leaves released), so a held order is released and resting children are
        #: topped up as soon as the headroom grows
        self._bound: dict[tuple[str, str], set[tuple[Any, ...]]] = {}
        self._series: list[OptionKey] = []  # every series a broker was worked on, by id
        self._series_id: dict[OptionKey, int] = {}
        #: limit records that arrived before their order (a limit may precede the order)
        self._pending_limits: dict[tuple[Any, ...], tuple[dict[str, Any], frozenset[str]]] = {}
        #: while restoring: the journal's parent rows by parentNumber (bodies may name one)
        self._parent_rows: dict[int, dict[str, Any]] = {}
        #: risk groups (accnt, firm, riskGroupId) a SpdrRiskGroupControl disabled
        self.disabled_groups: set[tuple[str, str, int]] = set()
        #: the auction engine orders with parentOrderHandling Block/FlashAuction go to
        self.auctions: AuctionHook | None = None
        #: ``_make_exchanges`` by (exchMask, number of exchanges)
        self._make_exch: dict[tuple[int, int], tuple[str, ...]] = {}

    # ================================================================= inputs

    def _ticks(self, series: Hashable) -> tuple[float, float]:
        """Tick sizes below/above 3.00 of a series (the venue's tick table)."""
        info = self.market.info(cast(OptionKey, series))
        return info.tick_below3, info.tick_above3
    def on_order(self, rec: dict[str, Any], sent: Iterable[str]) -> None:
        """A stored SpdrParentOrder (``sent`` = the fields the client posted)."""
        pn = int(rec["parentNumber"])
        if pn in self.parents:
            return  # a replay of an order this manager already worked
        rec = _with_source(rec)
        now = self.clock.time_ns()
        sent = frozenset(sent)
        key = self._key(rec)
        self.parents[pn] = key
        puts_before = len(self._puts)
        action = name_of(PO, "spdrActionType", rec["spdrActionType"])
        b = self.brokers.get(key)
        self._touched(b, records=True)
        if b is not None and action != "Modify":
            # a Modify of an order not yet worked only changes what the next tick works
            self._start_now(b, now)
        is_open_ = b is not None and is_open(b.status)
        if action == "Cancel":
            if b is not None and is_open_:
                self._cancel(b, "UserCxl", now)
            else:
                self._reject_parent(b, key, rec, sent, "InvldCxl",
                                    "Cancel: no open order with this broker key", now,
                                    may_own=False)
        elif action == "Modify":
            if b is None or not is_open_:
                self._reject_parent(b, key, rec, sent, "InvldCxlRepl",
                                    "Modify: no open order with this broker key", now, may_own=False)
            else:
                self._modify(b, rec, sent, now)
        else:
            rej = validate_order(self.mt[PO], rec, sent, now, self.market.known, self._bid_ask)
            if rej is None and action == "Add" and is_open_:
                rej = ("DupOrdNum", "Add: an order with this broker key (accnt, secKey, side, "
                                    "groupingCode) is still open; use Replace or AddReplace")
            if rej is None and action == "Replace" and not is_open_:
                rej = ("InvldCxlRepl", "Replace: no open order with this broker key")
            if rej is None and is_open_ and b is not None:
                if b.pending is not None and name_of(PO, "canOverlapCxlRepl",
                                                     rec["canOverlapCxlRepl"]) != "Yes":
                    rej = ("PendCxlRepl", "Replace: a cancel/replace of this order is still "
                                          "pending (canOverlapCxlRepl No)")
                elif int(rec["orderSize"]) < b.cum:
                    rej = ("TooLateToReduce", f"Replace: orderSize {int(rec['orderSize'])} is "
                                              f"below the {b.cum} contracts already filled")
            if rej is not None:
                self._reject_parent(b, key, rec, sent, rej[0], rej[1], now, may_own=not is_open_)
            elif is_open_ and b is not None:
                b.pending = ("replace", rec, sent)
                self._close(b, "Replaced", now)
            else:
                self._open(b, key, rec, sent, now)
        b = self.brokers.get(key)
        if self.journal is not None:  # no journal: no body encoded for it
            enc = message_encoder(self.mt[PO])(rec)
            row: dict[str, Any] = enc
            if (b is not None and b.parent is rec and b.status == PEND_NEW and not b.auction
                    and len(self._puts) == puts_before == 0 and self._dirty == {key}
                    and not self._groups_dirty and not self.config.group_commit):
                # a plain open (the broker's whole state follows from this record): its
                # broker body waits for the next commit (the tick that works it); the row
                # says what a restart needs to rebuild it if that commit never came
                row = {**enc, _OPENED: [sorted(sent), now, _nn(b.arrive_bid), _nn(b.arrive_ask)]}
                self._dirty.clear()
                self._owed.add(key)
                self._hold_owed = True
            # its own size: with group commit it waits, one of up to group_commit_max rows
            self._puts.append(("parent", _hex(pn), fitted(orjson.dumps(row))))
            if b is not None and b.parent is rec:
                b.enc["parent"] = (rec, enc)  # the journal's broker body reuses this encoding
                b.enc["row"] = (rec, None)  # ... or names this row (``_broker_body``)
        if not self.config.group_commit or len(self._puts) >= self.config.group_commit_max:
            self._flush()

    def on_limit(self, rec: dict[str, Any], sent: Iterable[str], insert: bool) -> None:
        """A stored SpdrParentLimit record (after the store merged it); ``insert`` = postaction
        I (the record's sent fields replace the previous set) rather than U (they add)."""
        now = self.clock.time_ns()
        rec = _with_source(rec)
        key = tuple(rec[f.name] for f in self.mt[BS].pkey_fields)
        sent = frozenset(sent) - {f.name for f in self.mt[PL].pkey_fields}
        b = self.brokers.get(key)
        self._touched(b, records=True)
        self._puts.append(("limit", _bkey(key), orjson.dumps(
            [message_encoder(self.mt[PL])(rec), sorted(sent), insert])))
        if b is None:
            self._pending_limits[key] = (rec, sent)
            self._flush()
            return
        self._apply_limit(b, rec, sent, insert, now)
        self._flush()

    def on_cancel(self, rec: dict[str, Any]) -> None:
        """A SpdrParentCancel: cancel the parent if it is the working one of an open broker of
        the same client firm (a key bound to a firm cannot cancel another firm's orders)."""
        now = self.clock.time_ns()
        pn = int(rec["parentNumber"])
        key = self.parents.get(pn)
        b = self.brokers.get(key) if key is not None else None
        self._touched(b, records=True)
        if (b is None or b.parent_number != pn or not is_open(b.status)
                or b.parent["accnt"] != rec["accnt"]
                or (rec["clientFirm"] and rec["clientFirm"] != b.parent["clientFirm"])):
            log.info("SpdrParentCancel of %X: no open order of that account and firm", pn)
            return
        self._start_now(b, now)
        if b.status[0] != "PendClose":
            self._cancel(b, "UserCxl", now)
        self._flush()

    def on_group_control(self, rec: dict[str, Any]) -> None:
        """A SpdrRiskGroupControl: ``isDisabled`` Yes pulls every child of the group's brokers
        and holds them (ActiveHold, the reason in spdrComment) until a control record says
        otherwise (No or None); its limit fields apply to the group's brokers beside their own
        (``_risk``: the tighter wins)."""
        g = (str(rec["accnt"]), str(rec["riskFirm"]), int(rec["riskGroupId"]))
        off = name_of("SpdrRiskGroupControl", "isDisabled", rec["isDisabled"]) == "Yes"
        lims = control_limits(rec)
        same_lims = lims == self.risk.controls.get(g, {})
        if off == (g in self.disabled_groups) and same_lims:
            return
        if off:
            self.disabled_groups.add(g)
        else:
            self.disabled_groups.discard(g)
        gk = orjson.dumps(list(g)).decode()
        self._puts.append(("gctl", gk, b"1" if off else b"0"))
        if not same_lims:
            if lims:
                self.risk.controls[g] = lims
            else:
                self.risk.controls.pop(g, None)
            self._puts.append(("gclim", gk, orjson.dumps(lims)))  # ``RiskBook.restore``
        now = self.clock.time_ns()
        for b in self.brokers.values():
            if is_open(b.status) and b.status != CLOSING and self._group_key(b) == g:
                self._touched(b, records=True)  # its limits are compiled again
                self._reprice.add(b.key)
        self._do_reprice(now)
        self._flush()

    def on_market(self, series: Iterable[Any]) -> None:
        """Quotes or surface points of ``series`` changed: venue fills, then re-price."""
        now = self.clock.time_ns()
        touched = [s for s in series if s in self.by_series]
        if not touched:
            return
        live = self.venue.live_series()
        self.venue.market_changed([s for s in touched if s in live], now)
        self._venue_events(now)
        moved = [b for s in touched for b in self.by_series.get(s, {}).values()]
        self._do_reprice(now, moved=moved)
        self._flush()

    def on_timer(self) -> None:
        """Orders accepted since the last tick (priced in one batch), venue events due,
        expiries, brokers waiting for a re-price."""
        for _ in self.timer_steps(0):
            pass

    def timer_steps(self, slice_n: int) -> Iterator[None]:
        """``on_timer`` as steps: while more than ``slice_n`` (> 0) orders accepted since the
        last tick wait, the ``slice_n`` oldest are worked (priced in one batch, journaled, then
        published: a step of their own) and the generator yields, so the caller may run other
        steps (posts) before the next slice; the last step is the whole tick's rest.  A post
        between two slices that acts on an order not worked yet works it first (``_start_now``)
        as it would before any tick.  A tick works the orders accepted before it started
        (those accepted during its steps wait for the next tick: posts arriving as fast as the
        slices are worked do not keep the tick's rest from running)."""
        budget = len(self._new)
        while 0 < slice_n < budget:
            now = self.clock.time_ns()
            worked = self._start_new(now, slice_n)
            budget -= slice_n
            # the worked brokers' bodies go into this slice's commit; an order still waiting
            # keeps its body owed to the commit of the slice that works it
            self._dirty.update(k for k in worked if k in self.brokers)
            self._owed.difference_update(worked)
            self._hold_owed = True
            self._flush()
            yield
        now = self.clock.time_ns()
        if slice_n <= 0:
            self._start_new(now)
        elif budget > 0:
            self._start_new(now, budget)
        self._venue_events(now)
        if self.execs.heap and self.execs.heap[0][0] <= now:
            take_due(self, now)  # +1m/+10m marks, the exchange's busts and corrections
        self._session_changes(now)
        if self._wake:
            for k in [k for k, due in self._wake.items() if due <= now]:
                del self._wake[k]
                b = self.brokers.get(k)
                if b is not None:
                    self._touched(b)
                    self._reprice.add(k)
        if self._expiry:
            self._expire(now)
        self._do_reprice(now)
        self._flush()

    # ================================================================= order lifecycle
    def _key(self, rec: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(rec[f.name] for f in self.mt[BS].pkey_fields)

    def _bid_ask(self, okey: OptionKey) -> tuple[float, float]:
        q = self.market.nbbo(okey)
        return (q.bid, q.ask) if q is not None else (0.0, 0.0)

    def _new_broker(self, key: tuple[Any, ...], rec: dict[str, Any]) -> Broker:
        side = 1 if name_of(PO, "orderSide", rec["orderSide"]) == "Buy" else -1
        b = Broker(key=key, okey=rec["secKey"], side=side, parent=rec)
        self._seq += 1
        b.made = self._seq
        pend = self._pending_limits.pop(key, None)
        if pend is not None:
            b.limit, b.limit_sent = pend
        self.brokers[key] = b
        return b

    def _set_parent(self, b: Broker, rec: dict[str, Any], sent: frozenset[str], now: int) -> None:
        prev = b.parent_number
        b.parent, b.sent = rec, sent
        b.parent_number = int(rec["parentNumber"])
        if prev == 0 or not b.base_parent:
            b.base_parent = b.parent_number
        b.parent_cum, b.parent_notional = 0, 0.0
        b.close_reason, b.reject_reason, b.comment, b.hold = "None", "None", "", ""
        b.start_ns = now
        dur = int(rec["orderDuration"]) if "orderDuration" in sent else -1
        b.expire_ns = now + dur * 1_000_000_000 if dur > 0 else 0
        gtd = int(rec["goodTillDttm"])
        if gtd > 0:
            b.expire_ns = min(b.expire_ns, gtd) if b.expire_ns else gtd
        self._track_expiry(b)
        b.last_take_qv = -2
        b.expose_ns = 0

    def _track_expiry(self, b: Broker) -> None:
        if b.expire_ns:
            self._expiry[b.key] = b.expire_ns
        else:
            self._expiry.pop(b.key, None)

    def _expire(self, now: int) -> None:
        """Cancel the working brokers whose orderDuration / goodTillDttm has passed (only
        those with an expiry are looked at: a tick does not walk every broker)."""
        due_now = [k for k, due in self._expiry.items() if due <= now]
        brokers = self.brokers
        # by due time, then as opened (the dict's order is not what a restart rebuilds)
        due_now.sort(key=lambda k: (self._expiry[k], brokers[k].opened if k in brokers else 0))
        for k in due_now:
            b = self.brokers.get(k)
            if b is None or not b.expire_ns or b.expire_ns > now:
                if b is None or not b.expire_ns:
                    del self._expiry[k]
                elif b.expire_ns > now:
                    self._expiry[k] = b.expire_ns
                continue
            if b.status in (NEW_ACTIVE, NEW_HOLD):
                self._cancel(b, "Expired", now)
            if not is_open(b.status) or b.status == CLOSING:
                del self._expiry[k]  # closed (or closing): nothing to expire any more

    def _open(self, b: Broker | None, key: tuple[Any, ...], rec: dict[str, Any],
              sent: frozenset[str], now: int, prev: int = 0) -> None:
        """A new parent takes over the broker (new, closed or rejected) and starts working."""
        if b is None:
            b = self._new_broker(key, rec)
        self._set_parent(b, rec, sent, now)
        if not prev:  # a new chain on this broker key: fill totals start again
            b.base_parent = b.parent_number
            b.cum, b.notional, b.u_notional, b.vol_notional = 0, 0.0, 0.0, 0.0
            b.cum_vega = b.cum_dd = b.cum_fee = 0.0
            b.max_progress = 0
        self._status(b, PEND_NEW, "New", now)
        self._progress(b, "Initialize")
        if is_auction(rec) and not open_auction(self, b, now):
            return
        q = self.market.nbbo(b.okey)
        if q is not None:
            b.arrive_bid, b.arrive_ask = (q.bid or math.nan), (q.ask or math.nan)
        self._enlist(b)
        if b.auction == -1:  # an auction parent starts its auction at once (no children)
            self._work([b], now, first=True)
            start_auction(self, b, now)
        else:
            self._new.add(b.key)  # worked (priced, children sent) in one batch on the next tick
        self._out.append((BE, event_record(b, "Replace" if prev else "New", now, prev=prev)))

    def _enlist(self, b: Broker) -> None:
        """``b`` (opened) to the end of its series' open brokers, the series' entry made
        first if it has none (both numbered: ``Broker.opened``/``series_made``)."""
        ks = self.by_series.get(b.okey)
        if ks is None:
            self._seq += 1
            ks = self.by_series[b.okey] = {}
            self._series_made[b.okey] = self._seq
        if b.key not in ks:
            self._seq += 1
            b.opened = self._seq
            ks[b.key] = b
        b.series_made = self._series_made[b.okey]

    def _start_new(self, now: int, most: int = 0) -> list[tuple[Any, ...]]:
        """Work every broker accepted since the last tick (``most`` > 0: the ``most`` with
        the lowest parentNumbers; the others wait) in one ``compute_limits`` call; returns
        the keys taken from the waiting set."""
        if not self._new:
            return []
        waiting, self._new = self._new, set()
        keys: list[tuple[Any, ...]]
        if 0 < most < len(waiting):
            order = sorted(waiting, key=lambda k: self.brokers[k].parent_number
                           if k in self.brokers else -1)
            keys, self._new = order[:most], set(order[most:])
        else:
            keys = list(waiting)
        bs = [self.brokers[k] for k in keys if k in self.brokers]
        bs = [b for b in bs if b.status == PEND_NEW]
        if bs:
            bs.sort(key=lambda b: b.parent_number)  # deterministic child ids and size draws
            self._work(bs, now, first=True)
            for b in bs:
                if b.auction == -1:  # an auction parent, Active now: its auction starts
                    start_auction(self, b, now)
        return keys

    def _session_changes(self, now: int) -> None:
        """The market session changed since the last tick: re-work the brokers whose
        ``marketSession`` limits when they may have children."""
        sess = session_state(now)
        if sess == self._session:
            return
        self._session = sess
        for b in self.brokers.values():
            if is_open(b.status) and _allowed_sessions(b) is not None:
                self._touched(b)
                self._reprice.add(b.key)

    def _start_now(self, b: Broker, now: int) -> None:
        """An action on a broker still waiting for its first tick: work it first (a cancel,
        replace or modify then moves it from New, as the transition table requires)."""
        if b.key in self._new:
            self._new.discard(b.key)
            if b.status == PEND_NEW:
                self._work([b], now, first=True)
                if b.auction == -1:
                    start_auction(self, b, now)

    def _reject_parent(self, b: Broker | None, key: tuple[Any, ...], rec: dict[str, Any],
                       sent: frozenset[str], reason: str, text: str, now: int, *,
                       may_own: bool, keep_totals: bool = False) -> None:
        """Reject a parent.  When it may own the broker (no open parent there) the broker
        record shows PendNew -> Rejected; otherwise only a Reject event is published and the
        working parent is untouched."""
        if may_own:
            if b is None:
                b = self._new_broker(key, rec)
            self._set_parent(b, rec, sent, now)
            if not keep_totals:
                b.base_parent = b.parent_number
                b.cum, b.notional, b.u_notional, b.vol_notional = 0, 0.0, 0.0, 0.0
                b.cum_vega = b.cum_dd = b.cum_fee = 0.0
            self._status(b, PEND_NEW, "New", now)
            b.reject_reason, b.comment = reason, text
            self._progress(b, "Rejected")
            self._status(b, REJECTED, "Reject", now)
            self._out.append((BE, event_record(b, "Reject", now, reject=reason, comment=text)))
            self._dirty.add(b.key)
            return
        holder = b if b is not None else Broker(key=key, okey=rec["secKey"], side=1, parent=rec)
        self._out.append((BE, event_record(holder, "Reject", now, parent=rec, status=REJECTED,
                                           reject=reason, comment=text)))
        if b is not None:
            self._dirty.add(b.key)

    def _modify(self, b: Broker, rec: dict[str, Any], sent: frozenset[str], now: int) -> None:
        """Modify: the working parent takes the new record's size and limit fields in place."""
        merged = dict(b.parent)
        rej = validate_order(self.mt[PO], {**merged, **{k: rec[k] for k in sent if k in rec},
                                           "parentNumber": b.parent_number},
                             b.sent | sent, now, self.market.known, self._bid_ask)
        if rej is None and int(rec.get("orderSize", merged["orderSize"])) < b.cum:
            rej = ("TooLateToReduce", f"Modify: orderSize below the {b.cum} contracts filled")
        if rej is not None:
            self._reject_parent(b, b.key, rec, sent, rej[0], rej[1], now, may_own=False)
            return
        for k in sent:
            if k in rec and k not in ("parentNumber", "spdrActionType"):
                merged[k] = rec[k]
        if int(merged["orderSize"]) < b.cum + b.live_leaves():
            # a cut below what is filled plus what is out: pull the children first (fills
            # racing the pull count), then apply the new size if it is still above the fills
            b.pending = ("modify", rec, sent, merged)
            self._pull(b, now)
            self._dirty.add(b.key)
            return
        self._apply_modify(b, rec, sent, merged, now)

    def _apply_modify(self, b: Broker, rec: dict[str, Any], sent: frozenset[str],
                      merged: dict[str, Any], now: int, reprice: bool = True) -> None:
        """``reprice`` False: the broker is worked by the next re-pricing pass, not now (a
        restore: the market is not read yet)."""
        if int(merged["orderSize"]) < b.cum:
            self._reject_parent(b, b.key, rec, sent, "TooLateToReduce",
                                f"Modify: orderSize {int(merged['orderSize'])} is below the "
                                f"{b.cum} contracts filled while the children were pulled", now,
                                may_own=False)
            self._reprice.add(b.key)
            return
        b.parent, b.sent = merged, b.sent | sent
        b.modify_number = int(rec["parentNumber"])
        self._out.append((BE, event_record(b, "Modify", now, parent={**rec,
                                                                     "secKey": b.parent["secKey"]},
                                           prev=b.parent_number)))
        b.update_src = "OrderStatus"
        self._reprice.add(b.key)
        if reprice:
            self._do_reprice(now)
        if b.cum >= b.order_size and b.status in (NEW_ACTIVE, NEW_HOLD):
            self._close(b, "Filled", now)
        self._dirty.add(b.key)

    def _apply_limit(self, b: Broker, rec: dict[str, Any], sent: frozenset[str], insert: bool,
                     now: int) -> None:
        if insert or b.limit is None:
            b.limit_sent = sent
        else:
            b.limit_sent = b.limit_sent | sent
        if name_of(PL, "addCumFillQuantity", rec["addCumFillQuantity"]) == "Yes" \
                and "orderActiveSize" in sent and rec["orderActiveSize"] >= 0:
            rec["orderActiveSize"] = int(rec["orderActiveSize"]) + b.cum
        b.limit = rec
        if "progressExposeTime" in sent:
            b.expose_ns = 0  # (inferred) a new exposure time starts the exposure again
        b.num_parent_limits += 1
        b.update_src = "ParentLimit"
        self._dirty.add(b.key)
        if is_open(b.status) and b.status != CLOSING:
            self._reprice.add(b.key)
            self._do_reprice(now, force_publish=True)

    def _cancel(self, b: Broker, reason: str, now: int) -> None:
        if b.status[0] == "PendClose":
            if b.pending is not None or b.close_reason == "Replaced":
                # a replace still waiting for its pull is cancelled with it: journaled (a
                # restart from the older body would open the replace after the pull)
                self._dirty.add(b.key)
            b.pending = None
            if b.close_reason == "Replaced":
                b.close_reason = reason
            return  # already closing: a repeated cancel changes nothing more
        b.pending = None
        self._close(b, reason, now)

    def _close(self, b: Broker, reason: str, now: int) -> None:
        """Open broker -> PendClose/Closing; children pulled; Closed once all are done."""
        b.close_reason = reason
        self._progress(b, "PendingClose")
        self._status(b, CLOSING, "OrderStatus", now)
        for c in b.children.values():
            if not c.cancelling:
                c.cancelling = True
                self.venue.cancel(c.child_id, now)
        if not b.children:
            self._finish_close(b, now)

    def _finish_close(self, b: Broker, now: int) -> None:
        self._progress(b, "Closed")
        self._status(b, CLOSED, "Done", now)
        self._out.append((BE, event_record(b, "Close", now)))
        ks = self.by_series.get(b.okey)
        if ks is not None:
            ks.pop(b.key, None)
            if not ks:
                del self.by_series[b.okey]
                self._series_made.pop(b.okey, None)
        pend, b.pending = b.pending, None
        if pend is not None and pend[0] == "replace":
            prev = b.parent_number
            if int(pend[1]["orderSize"]) < b.cum:  # fills raced the pull
                # the new parent is refused (a Reject event); the broker keeps the closed old
                # parent's record, whose fills fit its size (never cum > orderSize)
                self._reject_parent(b, b.key, pend[1], pend[2], "TooLateToReduce",
                                    f"Replace: orderSize {int(pend[1]['orderSize'])} is below the "
                                    f"{b.cum} contracts filled while the children were pulled",
                                    now, may_own=False)
                return
            self._open(b, b.key, pend[1], pend[2], now, prev=prev)

    # ================================================================= status and records
    def _status(self, b: Broker, st: Status, src: str, now: int, *, publish: bool = True) -> None:
        """Move ``b`` to ``st`` along the transition table and publish its state (``publish``
        False: the caller publishes once it is done with the broker)."""
        check_transition(b.status, b.pub_sig[0], st, b.parent_number)
        self._touched(b)
        b.status = st
        b.update_src = src
        if publish:
            self._publish_state(b, now)
        else:
            self._dirty.add(b.key)

    def _publish_state(self, b: Broker, now: int, sig: tuple[Any, ...] | None = None) -> None:
        """``sig``: ``_sig(b)`` when the caller has it (nothing changed ``b`` since)."""
        b.num_updates += 1
        rec = state_record(b, now)
        b.pub_sig = (b.parent_number, self._sig(b) if sig is None else sig)
        self._out.append((BS, rec))
        self._dirty.add(b.key)

    def _sig(self, b: Broker) -> tuple[Any, ...]:
        lim = b.lim
        kids = tuple(sorted((c.shown_price, c.shown_leaves, c.exch) for c in b.children.values()
                            if not c.cancelling))
        lp, tl, ml = lim.limit_price, lim.take_limit, lim.make_limit
        # the limits as published (6 places; -1 when not finite: x - x is 0 only for a finite x)
        return (b.status, b.cum, b.live_leaves(), kids,
                round(lp, 6) if lp - lp == 0.0 else -1.0,
                round(tl, 6) if tl - tl == 0.0 else -1.0,
                round(ml, 6) if ml - ml == 0.0 else -1.0,
                lim.limit_err, lim.take_err, lim.make_err, b.risk_size, b.hold,
                b.num_parent_limits, b.active_size, b.last_child_reject)

    def _progress(self, b: Broker, name: str) -> None:
        at = _PROGRESS_AT[name]
        if at > b.max_progress:
            b.max_progress = at

    # ================================================================= pricing and children
    def _do_reprice(self, now: int, force_publish: bool = False,
                    moved: Iterable[Broker] = ()) -> None:
        """Work the brokers waiting for a re-price and ``moved`` (the open brokers of series
        whose market moved: passed as objects, a 10,000-broker move hashes no keys)."""
        if self.risk.moved:
            self._rework_bound()
        keys, self._reprice = self._reprice, set()
        bs = [b for b in moved if b.status == NEW_ACTIVE or b.status == NEW_HOLD]
        if keys:
            brokers, seen = self.brokers, {id(b) for b in bs}
            more = [b for k in keys if (b := brokers.get(k)) is not None
                    and (b.status == NEW_ACTIVE or b.status == NEW_HOLD) and id(b) not in seen]
            # in the order the brokers were opened (a set's order is its keys' hashes':
            # another process, a restart, would work them -- send children, draw sizes -- in
            # another order)
            more.sort(key=_OPENED_ORDER)
            bs.extend(more)
        if bs:
            self._work(bs, now, force_publish=force_publish)

    def _order_row(self, b: Broker) -> int:
        """The broker's slot, its row of limit inputs (and, last, whether it has a group risk
        limit) brought up to date: rewritten only after something touched the broker (its
        records change only then, see ``_touched``)."""
        if b.slot < 0:
            b.slot = self.cols.new_slot()
            sid = self._series_id.get(b.okey)
            if sid is None:
                sid = self._series_id[b.okey] = len(self._series)
                self._series.append(b.okey)
            self.cols.series[b.slot] = sid
        elif self.cols.row_ok[b.slot]:
            return b.slot
        risk = self._compile_risk(b)
        p = b.parent
        if b.limit is None or b.limit_sent.isdisjoint(_LIMIT_FIELDS):
            vals = [p[f] for f in _LIMIT_FIELDS]  # ``Broker.value``: the parent's
        else:
            vals = [b.value(f) for f in _LIMIT_FIELDS]
        self.cols.rows[b.slot] = (
            b.side, *vals, b.limit is not None, b.arrive_bid, b.arrive_ask, risk,
            p["parentBalanceHandling"], _allowed_sessions(b) is not None)
        self.cols.row_ok[b.slot] = True
        return b.slot

    def _order_rows(self, bs: list[Broker]
                    ) -> tuple[OrderLimits, np.ndarray, np.ndarray, np.ndarray]:
        """The kernels' order columns, per broker whether it has a group risk limit, the
        brokers' slots and their parentBalanceHandling."""
        n = len(bs)
        # only the brokers without a slot or whose row is out of date take a Python call
        slots = np.fromiter((b.slot for b in bs), np.int64, n)
        stale = (slots < 0) | ~self.cols.row_ok[slots]
        for i in np.flatnonzero(stale).tolist():
            slots[i] = self._order_row(bs[i])
        # the rows transposed: each column one contiguous row of a fresh array (its float
        # columns taken as they are, the others cast)
        ct = self.cols.rows[slots].T.copy()
        o = OrderLimits(side=ct[0].astype(np.int8), limit_type=ct[1].astype(np.int16),
                        **{name: ct[j] for j, name in _FLOAT_ROWS},
                        take_class=ct[8].astype(np.int16), make_class=ct[9].astype(np.int16),
                        has_aux=ct[18] > 0)
        for a in (o.ref_uprc, o.ref_delta, o.ref_gamma):
            a[a == 0] = np.nan  # 0 = not given: the kernels' defaults
        return o, ct[21] > 0, slots, ct[22].astype(np.int64)

    def _market_rows(self, bs: list[Broker], slots: np.ndarray) -> Any:
        """The kernels' market columns for ``bs``, read once per distinct series, and written
        to the brokers' market rows (``Broker.mkt``)."""
        sids, inv = np.unique(self.cols.series[slots], return_inverse=True)
        uniq = [self._series[i] for i in sids.tolist()]
        mkt_u, extra_u = self.market.series_market(uniq)
        pv_u = np.array([self.market.info(k).point_value for k in uniq], np.float64)
        mkt = mkt_u.take(inv)
        self.cols.mkt[slots] = np.stack(
            [mkt.bid, mkt.ask, mkt.bid_size, mkt.ask_size, mkt.u_bid, mkt.u_ask, mkt.u_prc,
             mkt.s_vol, mkt.s_prc, mkt.s_mark, mkt.de, mkt.ga, extra_u["ve"][inv], mkt.years,
             pv_u[inv], extra_u["qv"][inv].astype(np.float64)], axis=1)
        return mkt

    def _unchanged(self, slots: np.ndarray, res: Any, make_px: np.ndarray, mkt: Any,
                   orders: OrderLimits, risk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Brokers a re-price leaves exactly as they are, vectorised: quiet (see
        ``BrokerColumns``) with their children at the new make price, no group risk limit,
        limits equal to the ones in effect (as the published record rounds them), and
        nothing to take; and the quiet brokers whose only change is the make price (the limit
        errors as in effect, no marketSession either): ``_move_quiet`` moves those."""
        new = np.stack([res.limit_price, res.take_limit, res.make_limit, res.limit_err,
                        res.take_err, res.make_err], axis=1).astype(np.float64)
        with np.errstate(invalid="ignore"):
            pr, nr = np.round(self.cols.lims[slots], 6), np.round(new, 6)
            same = ((pr == nr) | (~np.isfinite(pr) & ~np.isfinite(nr))).all(axis=1)
            tl = res.take_limit
            take = np.isfinite(tl) & (((orders.side > 0) & (mkt.ask <= tl + 1e-9))
                                      | ((orders.side < 0) & (mkt.bid >= tl - 1e-9)))
            rest = self.cols.rest[slots]
            at = np.abs(rest - make_px) < 1e-9
            errs = (self.cols.lims[slots, 3:] == new[:, 3:]).all(axis=1)
            moved = np.isfinite(rest) & np.isfinite(make_px) & (make_px > 0) & ~at
        quiet = ~take & ~risk
        # a marketSession may hold the broker at a session change: never the fast path
        free = self.cols.rows[slots, 23] == 0
        return same & quiet & at, errs & quiet & moved & free

    def _first_pks(self, bs: list[Broker], slots: np.ndarray) -> None:
        """The pkeys (store column form) of brokers worked for the first time, a tick's new
        orders at a time: the first re-pricing pass that moves them all (``_move_quiet``)
        then finds them ready (10,000 at once cost it ~20 ms)."""
        fresh = np.flatnonzero(~self.cols.pk_ok[slots]).tolist()
        fresh = [i for i in fresh if not is_stock(bs[i].okey)]  # no column batch for stocks
        if fresh:
            self.cols.set_pks(slots[fresh], pk_columns(self.mt[BS], [bs[i].key for i in fresh]))

    def _move_quiet(self, bs: list[Broker], idx: np.ndarray, slots: np.ndarray, res: Any,
                    make_px: np.ndarray, now: int) -> None:
        """Quiet brokers whose make price moved: every child is modified to the new price at
        the venue and the brokers' states go out as one column batch (``_batch``).  Nothing
        else changes for them (status, sizes, fills, holds), so no per-broker record is
        built; their published signature is left unknown (the next full pass publishes)."""
        sl = slots[idx]
        mods: list[tuple[int, float, int]] = []
        nupd_l: list[int] = []
        pns_l: list[int] = []
        mkt = self.cols.mkt[sl]
        views = zip(*(a[idx].tolist() for a in (
            res.limit_price, res.take_limit, res.make_limit, res.limit_err, res.take_err,
            res.make_err, res.take_prob_limit, res.make_prob_limit, res.take_surf,
            res.make_surf)), strict=True)
        quotes = zip(make_px[idx].tolist(), mkt[:, MKT_NAMES.index("bid")].tolist(),
                     mkt[:, MKT_NAMES.index("ask")].tolist(), strict=True)
        fresh = np.flatnonzero(~self.cols.pk_ok[sl])
        if len(fresh):  # the brokers' first fast pass: their pkeys in column form, at once
            self.cols.set_pks(sl[fresh], pk_columns(self.mt[BS], [bs[i].key for i in
                                                                 idx[fresh].tolist()]))
        new_view = tuple.__new__  # a LimitView straight from its row tuple
        for i, v, (px, bid, ask) in zip(idx.tolist(), views, quotes, strict=True):
            b = bs[i]
            b.lim = new_view(LimitView, v)
            mod = (px, v[2], bid, ask, True)  # 5th: sent by the fast path
            for c in b.children.values():
                c.mod = mod
                mods.append((c.child_id, px, c.size))
            nu = b.num_updates = b.num_updates + 1
            nupd_l.append(nu)
            pn = b.parent_number
            pns_l.append(pn)
            b.pub_sig = (pn, None)
        nupd = np.array(nupd_l, np.int64)
        pns = np.array(pns_l, np.int64)
        if self.journal is not None:
            self._journal_moves(sl, pns, nupd)
        self.cols.rest[sl] = math.nan  # quiet again once the venue confirms the modifies
        self.venue.modify_many(mods, now)
        self._out.append((BS, StateBatch(state_columns(
            self.cols.pk, sl, self.cols.mkt[sl], self.cols.lims[sl], res.take_prob_limit[idx],
            res.make_prob_limit[idx], make_px[idx], nupd, now))))

    def _quiet_price(self, b: Broker) -> float:
        """The price every live child rests at when ``b`` is quiet, else NaN."""
        if b.status != NEW_ACTIVE or b.hold or b.pending is not None or not b.children:
            return math.nan
        px, live = math.nan, 0
        for c in b.children.values():
            if (c.cancelling or not c.maker or not c.acked or c.mod is not None
                    or (px == px and abs(c.price - px) >= 1e-9)):
                return math.nan
            px = c.price
            live += c.leaves
        return px if live <= b.workable() else math.nan

    def _touched(self, b: Broker | None, records: bool = False) -> None:
        """Something other than a re-price touched ``b``: it is not quiet until worked;
        ``records``: its order or limit records may have changed (a post, or a venue event
        that completes a pending replace/modify), so its row of limit inputs is re-read."""
        if b is not None and b.slot >= 0:
            self.cols.rest[b.slot] = math.nan
            if records:
                self.cols.row_ok[b.slot] = False

    def _work(self, bs: list[Broker], now: int, *, first: bool = False,
              force_publish: bool = False) -> None:
        """Compute limits for ``bs`` (vectorised) and bring each broker's children in line;
        brokers the new market leaves unchanged only take the new market row."""
        with no_gc(len(bs) >= 256):
            self._work_all(bs, now, first, force_publish)

    def _work_all(self, bs: list[Broker], now: int, first: bool, force_publish: bool) -> None:
        orders, risk, slots, balance = self._order_rows(bs)
        mkt = self._market_rows(bs, slots)
        res = compute_limits(orders, mkt, memo=self.limit_memo)
        make_px = child_prices(res.make_limit, orders.side, mkt.bid, mkt.ask, balance,
                               mkt.tick_below3, mkt.tick_above3)
        if first or force_publish:
            skip = fast = np.zeros(len(bs), np.bool_)
        else:
            skip, fast = self._unchanged(slots, res, make_px, mkt, orders, risk)
            if self.publish_batch is None:
                fast[:] = False
        lims = self.cols.lims
        lims[slots] = np.stack([res.limit_price, res.take_limit, res.make_limit, res.limit_err,
                                res.take_err, res.make_err], axis=1)
        if first and self.publish_batch is not None:
            self._first_pks(bs, slots)
        if fast.any():
            # a stock's ticker key has no expiry/strike cells for the state column batch: stock
            # brokers take the per-broker path
            fast &= np.fromiter((not is_stock(b.okey) for b in bs), np.bool_, len(bs))
        if fast.any():
            self._move_quiet(bs, np.flatnonzero(fast), slots, res, make_px, now)
        slow = np.flatnonzero(~(skip | fast))
        # the slow rows' limits as Python numbers, a column at a time (not ten NumPy scalars
        # per broker)
        views = zip(*(a[slow].tolist() for a in (
            res.limit_price, res.take_limit, res.make_limit, res.limit_err, res.take_err,
            res.make_err, res.take_prob_limit, res.make_prob_limit, res.take_surf,
            res.make_surf, make_px)), strict=True)
        new_view = tuple.__new__
        for i, v in zip(slow.tolist(), views, strict=True):
            b = bs[i]
            if not isinstance(b.mkt, MarketRow):
                b.mkt = MarketRow(self.cols, b.slot)
            b.lim = new_view(LimitView, v[:10])
            try:
                self._work_one(b, v[10], now, first)
            except Exception:
                log.exception("order manager: working %X failed", b.parent_number)
                raise
            sig = self._sig(b)
            if force_publish or b.pub_sig[1] != sig:
                if b.status in (NEW_ACTIVE, NEW_HOLD, CLOSING):
                    self._publish_state(b, now, sig)
            self.cols.rest[b.slot] = self._quiet_price(b)

    def _work_one(self, b: Broker, make_px: float, now: int, first: bool) -> None:
        if b.auction:  # the auction engine works it: no children
            if b.status == PEND_NEW:
                self._progress(b, "Working")
                self._status(b, NEW_ACTIVE, "BrokerStatus", now)
            return
        m, lim = market_of(b), b.lim
        pv = m["point_value"] or 100.0
        per = self._per_unit(b, m, pv)
        gkey = self._group_key(b)
        W = b.workable()
        size, desc, detail = self._risk_size(b, per, now)
        b.risk_size, b.risk_desc, b.risk_detail = size, desc, detail
        cap = W if size < 0 else min(W, size)
        if (0 <= size < W) != b.bound:
            self._set_bound(b, not b.bound)
        hold = ""
        if self.disabled_groups and gkey in self.disabled_groups:
            hold = _DISABLED
        elif lim.limit_err == LIMIT_ERR["AuxLimit"]:
            hold = "Aux limit: no SpdrParentLimit record for this broker yet"
        elif size == 0 and W > 0:
            hold = f"risk hold: {detail}"
        elif W > 0 and not _fin(lim.take_limit) and not _fin(make_px) and lim.limit_err:
            hold = f"limit error: {name_of(BS, 'limitErr', lim.limit_err)}"
        else:
            hold = _session_hold(b, now)
        b.hold = hold
        target = NEW_HOLD if hold else NEW_ACTIVE
        if b.status != target:
            if target == NEW_HOLD:
                self._progress(b, "RiskHold" if size == 0 else "Working")
            else:
                self._progress(b, "Working")
            # published once by ``_work`` with the children this pass sends (the status is
            # part of the signature, so the change is never lost)
            self._status(b, target, "BrokerStatus", now, publish=False)
        if hold:
            self._pull(b, now)
            return
        if b.pending is not None and b.pending[0] == "modify":
            return  # children are being pulled for a Modify
        if sum(c.leaves for c in b.children.values() if not c.cancelling) > cap:
            self._pull(b, now)  # the client cut the size below what is out: pull, then re-send
            self._reprice.add(b.key)
            return
        handling = name_of(PO, "parentOrderHandling", b.parent["parentOrderHandling"])
        bid, ask = m["bid"], m["ask"]
        qv = int(m["qv"])
        take = _fin(lim.take_limit) and handling != _POSTONLY and (
            (b.side > 0 and _fin(ask) and ask <= lim.take_limit + 1e-9)
            or (b.side < 0 and _fin(bid) and bid >= lim.take_limit - 1e-9))
        if take and not self._exposed(b, now):
            take = False  # progressExposeTime: post (make) first, take once exposed long enough
        makers = [c for c in b.children.values() if c.maker and not c.cancelling]
        if take and qv != b.last_take_qv:
            for c in makers:
                c.cancelling = True
                self.venue.cancel(c.child_id, now)
            room = cap - b.live_leaves()
            opp_sz = int(m["ask_size"] if b.side > 0 else m["bid_size"])
            q = min(room, opp_sz)
            if q > 0:
                b.last_take_qv = qv
                px = ask if b.side > 0 else bid
                self._send(b, px, q, "", "IOC", False, lim.take_limit, per, now)
            return
        if not _fin(make_px) or cap <= 0:
            self._pull(b, now, makers_only=True)
            return
        # (a size modify in flight counts at its new size)
        live = sum(c.shown_leaves for c in makers)
        # children sized under a risk cap grow back toward what the size rule wanted (``want``)
        # once the headroom allows: a venue modify of their size, as of their price
        grow = 0
        if makers:
            others = b.live_leaves() - sum(c.leaves for c in makers)  # IOC, being pulled
            grow = min(b.want, cap - others) - live
        if makers and grow <= 0 and live <= cap and all(
                abs(c.shown_price - make_px) < 1e-9 for c in makers):
            return  # children already where they belong
        if makers and live <= cap:
            self._reprice_makers(b, makers, make_px, lim.make_limit, now, max(grow, 0))
            return
        for c in makers:
            c.cancelling = True
            self.venue.cancel(c.child_id, now)
        if any(c.cancelling or c.tif == "IOC" for c in b.children.values()):
            self._reprice.add(b.key)  # new children once the pulls are confirmed
            return
        out = b.live_leaves()
        room = cap - out
        if room <= 0:
            return
        ps = int(b.parent["publicSize"])
        avg = m["bid_size"] if b.side > 0 else m["ask_size"]
        # the size rule over W (§1.6), then capped by the risk headroom (§1.9): what the rule
        # wanted is kept, the children grow to it when the headroom does
        want = child_size(W - out, ps, avg if _fin(avg) and avg > 0 else math.nan, self.rng)
        b.want = want
        total = min(want, room)
        if total <= 0:
            return
        nex = int(b.parent["numMakeExchanges"]) or 1
        nex = max(1, min(nex, self.config.max_make_exchanges))
        parts = split_size(total, nex)
        exchs = self._make_exchanges(b, nex)
        for q, ex in zip(parts, exchs, strict=False):
            if q > 0:
                self._send(b, make_px, int(q), ex, "Day", handling == _POSTONLY, lim.make_limit,
                           per, now)

    def _journal_moves(self, slots: np.ndarray, pns: np.ndarray, nupd: np.ndarray) -> None:
        """The fast path's changes, journaled in the step's commit before the batch is
        published: only what a restart could not rebuild -- each moved broker's numUpdates,
        as ONE packed ``pxp`` row per pass (little-endian int64 pairs parentNumber,
        numUpdates; ``restore`` takes a value when newer than the broker body's).  Every
        ``_PXP_DELTAS`` passes the row holds instead every value still owed (``cols.jnupd``:
        not superseded by a broker body since) and the earlier rows are deleted, so the
        namespace stays within ``_PXP_DELTAS + 1`` rows of at most one pair per broker.  The
        market snapshot and limits of the pass are not journaled: a restart re-prices every
        open broker at once and publishes them from the market then."""
        cols = self.cols
        cols.jpn[slots] = pns
        cols.jnupd[slots] = nupd
        if len(self._pxp_keys) >= _PXP_DELTAS:
            owed = np.flatnonzero(cols.jnupd[: cols.n])
            pns, nupd = cols.jpn[owed], cols.jnupd[owed]
            self._deletes.extend(("pxp", k) for k in self._pxp_keys)
            self._pxp_keys = []
        self._pxp_seq += 1
        key = f"{self._pxp_seq:016X}"
        self._pxp_keys.append(key)
        self._puts.append(("pxp", key, np.stack([pns, nupd], axis=1).astype("<i8").tobytes()))

    def _reprice_makers(self, b: Broker, makers: list[Child], px: float, limit: float,
                        now: int, grow: int = 0) -> None:
        """Move resting makers to ``px`` with venue modifies and grow their total size by
        ``grow`` (spread evenly, the first taking the remainder; the child takes the new size
        when the venue confirms it, the published ladder shows it at once); each modified child
        loses its queue priority, as on a real venue.  A child not acknowledged yet, or with a
        modify still in flight, is waited for (one modify in flight per child: two could land
        out of order)."""
        if any(not c.acked or c.mod is not None for c in makers):
            self._reprice.add(b.key)
            return
        self._touched(b)
        bid, ask = b.mkt["bid"], b.mkt["ask"]
        each, rem = divmod(grow, len(makers))
        for j, c in enumerate(makers):
            more = each + (j < rem)
            if more:
                c.mod = (float(px), float(limit), bid, ask, False, c.size + more)
                self.venue.modify(c.child_id, float(px), c.size + more, now)
            elif abs(c.price - px) >= 1e-9:
                c.mod = (float(px), float(limit), bid, ask)
                self.venue.modify(c.child_id, float(px), c.size, now)

    def _exposed(self, b: Broker, now: int) -> bool:
        """``progressExposeTime`` (seconds; inferred: any posted maker child counts as
        exposure) has passed since the broker's exposure began; if not, wake it then."""
        pet = int(b.sent_or("progressExposeTime", 0) or 0)
        if pet <= 0:
            return True
        if b.expose_ns and now - b.expose_ns >= pet * 1_000_000_000:
            return True
        if b.expose_ns:
            self._wake[b.key] = b.expose_ns + pet * 1_000_000_000
        return False

    def _make_exchanges(self, b: Broker, n: int) -> tuple[str, ...]:
        mask = int(b.value("exchMask"))
        got = self._make_exch.get((mask, n))
        if got is None:
            allowed = set(exchanges_of(mask)) if mask else None
            out = [x for x in self.config.make_exchanges if allowed is None or x in allowed]
            got = tuple((out or list(self.config.make_exchanges))[:n])
            if len(self._make_exch) < 4096:
                self._make_exch[(mask, n)] = got
        return got

    def _pull(self, b: Broker, now: int, makers_only: bool = False) -> None:
        self._touched(b)
        for c in b.children.values():
            if not c.cancelling and (c.maker or not makers_only):
                c.cancelling = True
                self.venue.cancel(c.child_id, now)

    def _send(self, b: Broker, price: float, size: int, exch: str, tif: str, post_only: bool,
              limit: float, per: tuple[float, ...], now: int) -> None:
        self._touched(b)
        self.child_seq += 1
        cid = self.child_seq
        maker = tif != "IOC"
        c = Child(cid, b.parent_number, float(price), int(size), exch, tif, maker, post_only, now,
                  float(limit), b.mkt["bid"], b.mkt["ask"], per,
                  handling=b.parent["parentOrderHandling"])
        b.children[cid] = c
        self.owner[cid] = b.key
        self.child_of[cid] = c
        b.num_new_orders += 1
        if maker and not b.expose_ns:
            b.expose_ns = now
            if int(b.sent_or("progressExposeTime", 0) or 0) > 0:
                self._wake[b.key] = now + int(b.sent_or("progressExposeTime", 0)) * 1_000_000_000
        self._progress(b, "InMarket")
        if not maker:  # IOC leaves count against the group while live
            self._charge(b, per, size)
        self.venue.submit(ChildOrder(cid, b.parent_number, b.okey, b.side, float(price),
                                     int(size), exch, tif, post_only), now)

    # ================================================================= auctions
    def auction_cross(self, key: tuple[Any, ...], notice: int, qty: int, price: float,
                      now: int) -> None:
        """The auction engine crossed ``qty`` at ``price`` for broker ``key``."""
        auction_cross(self, key, notice, qty, price, now)

    def responder_fill(self, key: tuple[Any, ...], notice: int, resp: dict[str, Any], side: int,
                       qty: int, price: float, base_parent: int, now: int) -> None:
        """A real responder's share of the cross of broker ``key``'s auction."""
        responder_fill(self, key, notice, resp, side, qty, price, base_parent, now)

    def auction_risk(self, b: Broker) -> tuple[int, str, str]:
        """(contracts broker ``b``'s auction may cross now under its group risk, -1 for no
        limit; SpdrRejectReason; text) -- ``_auctions.auction_risk``."""
        return auction_risk(self, b)

    def auction_end(self, key: tuple[Any, ...], notice: int, reason: str | None,
                    now: int, comment: str = "") -> None:
        """The auction engine finished the auction of broker ``key`` (``comment``: why, shown
        in spdrComment)."""
        auction_end(self, key, notice, reason, now, comment)

    def adjust_fill(self, fill_number: int, price: float | None) -> str | None:
        """Bust (``price`` None) or correct fill ``fill_number`` now, as an exchange would
        (``_execs.adjust_fill``; an operator's action): journaled, then published.  Returns
        why it was refused, else None."""
        now = self.clock.time_ns()
        why = adjust_fill(self, int(fill_number), price, now)
        self._do_reprice(now)
        self._flush()
        return why

    # ================================================================= venue events
    def _venue_events(self, now: int) -> None:
        """The venue's events due by ``now`` (thousands after a re-pricing pass: no GC pass
        while they are applied)."""
        with no_gc(True):
            self._apply_events(self.venue.advance(now), now)

    def _apply_events(self, events: list[VenueEvent], now: int) -> None:
        for ev in events:
            key = self.owner.get(ev.child_id)
            b = self.brokers.get(key) if key is not None else None
            if b is None:
                continue
            if ev.kind in _CHANGING:
                self._touched(b, records=True)
            c = b.children.get(ev.child_id)
            if c is None:
                continue
            if ev.kind == "ack":
                c.acked = True
                if c.maker and b.slot >= 0 and self._reprice_ready(b):
                    self.cols.rest[b.slot] = self._quiet_price(b)
            elif ev.kind == "modified":
                self._modified(b, c, ev)
            elif ev.kind == "modify_rejected":
                self._modify_refused(b, c, now)
            elif ev.kind == "fill":
                self._fill(b, c, ev, now)
            elif ev.kind in ("cancelled", "expired", "rejected"):
                if ev.kind == "rejected":
                    b.last_child_reject, b.last_child_reject_ns = ev.reason[:255], ev.ts_ns
                if not c.maker and c.leaves > 0:  # IOC leaves no longer count
                    self._charge(b, c.risk, -c.leaves)
                del b.children[ev.child_id]
                self.owner.pop(ev.child_id, None)
                self.child_of.pop(ev.child_id, None)
                self._child_done(b, now)

    def _modified(self, b: Broker, c: Child, ev: VenueEvent) -> None:
        """The venue moved ``c`` to the modify's price: the child takes the terms the broker
        already shows (nothing to publish); a quiet broker is quiet again."""
        if c.mod is not None and abs(c.mod[0] - ev.price) < 1e-9:
            c.price, c.limit, c.bid, c.ask = c.mod[:4]
            if len(c.mod) > 5:  # a size modify: the venue's size now
                c.size = int(c.mod[5])
        else:  # (never expected: one modify in flight per child) the venue's word counts
            c.price = float(ev.price)
            self._touched(b)
            self._reprice.add(b.key)
        quiet, c.mod = c.mod is not None and len(c.mod) > 4 and bool(c.mod[4]), None
        if b.slot >= 0 and self._reprice_ready(b):
            # a broker the fast path moved was quiet: it is again, at the new price
            self.cols.rest[b.slot] = c.price if quiet else self._quiet_price(b)

    def _reprice_ready(self, b: Broker) -> bool:
        """Nothing but a child's arrival or modify touched ``b`` since it was last worked (its
        published state is what ``_work`` left) and every child is now acknowledged at its
        price: ``b`` may be quiet."""
        return (bool(self.cols.row_ok[b.slot]) and b.key not in self._reprice
                and b.key not in self._new and all(x.acked and x.mod is None for x in b.children.values()))

    def _modify_refused(self, b: Broker, c: Child, now: int) -> None:
        """The venue refused a modify (a PostOnly child would cross, or the child is no longer
        resting): the child is pulled and the broker re-worked (a new child at its price)."""
        c.mod = None
        self._touched(b)
        if not c.cancelling:
            c.cancelling = True
            self.venue.cancel(c.child_id, now)
        self._reprice.add(b.key)

    def _child_done(self, b: Broker, now: int) -> None:
        if b.status == CLOSING:
            if not b.children:
                self._finish_close(b, now)
            else:
                self._publish_if_changed(b, now)
        elif b.pending is not None and b.pending[0] == "modify":
            if not b.children:
                _, rec, sent, merged = b.pending
                b.pending = None
                self._apply_modify(b, rec, sent, merged, now)
        else:
            self._reprice.add(b.key)

    def _publish_if_changed(self, b: Broker, now: int) -> None:
        if b.pub_sig[1] != self._sig(b):
            self._publish_state(b, now)

    def _fill(self, b: Broker, c: Child, ev: VenueEvent, now: int) -> None:
        q, px = int(ev.qty), float(ev.price)
        if q <= 0:
            return
        q = min(q, c.leaves)  # never more than the child's leaves (venue guarantees it too)
        c.filled += q
        m = market_of(b)
        b.cum += q
        b.notional += px * q
        b.parent_cum += q
        b.parent_notional += px * q
        if _fin(m.get("u_prc", math.nan)):
            b.u_notional += m["u_prc"] * q
        if _fin(m.get("s_vol", math.nan)):
            b.vol_notional += m["s_vol"] * q
        b.cum_dd += c.risk[0] * q
        b.cum_vega += c.risk[1] * q
        b.cum_fee += float(ev.fee)
        b.last_fill_ns = ev.ts_ns
        self._progress(b, "Filling")
        if c.maker:  # IOC children were charged when sent
            self._charge(b, c.risk, q)
            b.want = max(0, b.want - q)
        else:
            self._groups_dirty.add(self._group_key(b))
        if self.risk.watch:
            self._ema_fill(b, c.risk, q, now)
        if c.leaves <= 0:
            del b.children[c.child_id]
            self.owner.pop(c.child_id, None)
            self.child_of.pop(c.child_id, None)
        self.fill_seq += 1
        fn = self.fill_seq
        rec = execution_record(b, c, fn, q, px, ev.exch or c.exch, ev.maker_taker, float(ev.fee),
                               ev.ts_ns)
        self.execs.add(rec, c.risk, float(ev.fee), ev.adjust_ns, ev.adjust_price)
        self._puts.append(("fill", _hex(fn), fill_row(self.mt[EX], self.execs.recent[fn])))
        self._out.append((EX, rec))
        b.update_src = "CumFillQty"
        if b.cum >= b.order_size:
            self._progress(b, "Filled")
            if b.status in (NEW_ACTIVE, NEW_HOLD):
                self._cancel(b, "Filled", now)
            elif b.status == CLOSING and not b.children:
                self._finish_close(b, now)
            else:
                self._publish_state(b, now)
        elif b.status == CLOSING and not b.children:
            self._finish_close(b, now)
        else:
            self._publish_state(b, now)
            if b.status != CLOSING:
                self._reprice.add(b.key)

    # ================================================================= risk
    def _group_key(self, b: Broker) -> tuple[str, str, int]:
        p = b.parent
        return (p["accnt"], p["clientFirm"], int(p["riskGroupId"]))

    def _scope_keys(self, b: Broker, scopes: int = 7) -> tuple[
            tuple[str, str, int], tuple[Any, ...] | None, tuple[Any, ...] | None]:
        """The broker's group, symbol and expiry counter keys (a stock has no expiry);
        ``scopes`` (bits 1 symbol, 2 expiry): the symbol/expiry keys wanted (else None)."""
        p = b.parent
        a, f, k = p["accnt"], p["clientFirm"], b.okey
        g = (a, f, int(p["riskGroupId"]))
        if is_stock(k):
            return g, (a, f, k), None
        return (g, (a, f, k.ticker) if scopes & 2 else None,
                (a, f, k.expiry) if scopes & 4 else None)

    def _ema_keys(self, b: Broker) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """The broker's EMA-cancel flows: its symbol's and its account's."""
        p = b.parent
        a, f, k = p["accnt"], p["clientFirm"], b.okey
        return ("sym", a, f, k if is_stock(k) else k.ticker), ("acc", a, f)

    def _risk_value(self, b: Broker, f: str) -> Any:
        v = b.sent_or(f, None)
        if b.limit is not None and f in b.limit_sent and not b.limit[f] > 0:
            v = b.parent[f] if f in b.sent else None  # 0 in a limit record = keep the order's
        return v

    def _compile_risk(self, b: Broker) -> bool:
        """Compile the broker's limits in force (order, limit record, group control) into
        ``b.risk_lims``; whether it needs a risk check when worked (limits, or an EMA-cancel
        breach holding its symbol or account).  Brokers with EMA limits watch their flows."""
        ctl = self.risk.controls.get(self._group_key(b)) if self.risk.controls else None
        lims = compile_limits(lambda f: self._risk_value(b, f), b.sent | b.limit_sent, ctl)
        had = b.risk_lims.emas
        b.risk_lims = lims
        if lims.emas or had:
            keys = self._ema_keys(b)
            for sc, key in enumerate(keys):
                self.risk.set_watch(key, b.key, tuple(e for e in lims.emas if e.scope == sc))
        held = bool(self.risk.breaches) and not is_stock(b.okey) and any(
            k in self.risk.breaches for k in self._ema_keys(b))
        return bool(lims.caps or lims.emas) or held

    def _limits(self, b: Broker) -> Limits:
        """``b.risk_lims``, compiled now when the broker was never worked (an auction's start)."""
        if b.slot < 0 or not self.cols.row_ok[b.slot]:
            self._compile_risk(b)
        return cast(Limits, b.risk_lims)

    def _per_unit(self, b: Broker, m: Any, pv: float) -> tuple[float, ...]:
        """Signed per-contract metrics of a child of ``b`` (``_risk.per_unit``)."""
        rms = (tuple(b.value(f) for f in RM_FIELDS)
               if not _RM_SET.isdisjoint(b.sent) or not _RM_SET.isdisjoint(b.limit_sent) else ())
        g = m.get
        return per_unit(b.side, g("de", math.nan), g("u_prc", math.nan), pv, g("ve", math.nan),
                        g("s_vol", math.nan), g("years", math.nan), rms, is_stock(b.okey))

    def _risk_size(self, b: Broker, per: tuple[float, ...], now: int) -> tuple[int, str, str]:
        """(riskLimitSize, riskLimitDesc, detail) of ``b`` now: 0 while an EMA-cancel breach
        holds its symbol or account (woken when it ends), else the tightest headroom."""
        if self.risk.breaches and not is_stock(b.okey):
            held = self.risk.held(self._ema_keys(b), now)
            if held is not None:
                self._wake[b.key] = min(self._wake.get(b.key, held[2]), held[2])
                return 0, held[0], held[1]
        lims = self._limits(b)
        if not lims.caps:
            return -1, "None", ""
        g, s, e = self._scope_keys(b, lims.scopes)
        nets = self.risk.nets(g, s, e, lims.scopes & 8 != 0)
        if lims.ratios:  # a bot/sld ratio: the group counter's sides
            return risk_limit_size(lims.caps, per, nets, self.risk.group(g), b.side)
        return risk_limit_size(lims.caps, per, nets)

    def _charge(self, b: Broker, per: tuple[float, ...], q: float) -> None:
        """Charge ``q`` contracts of ``per`` to the broker's group, symbol and expiry."""
        g, s, e = self._scope_keys(b)
        assert s is not None
        self.risk.charge(g, s, e, b.side, per, q)
        self._groups_dirty.add(g)

    def _set_bound(self, b: Broker, on: bool) -> None:
        """``b`` is (``on``) or is no longer capped below W by a risk limit (``_bound``)."""
        b.bound = on
        a = (b.parent["accnt"], b.parent["clientFirm"])
        if on:
            self._bound.setdefault(a, set()).add(b.key)
        else:
            keys = self._bound.get(a)
            if keys is not None:
                keys.discard(b.key)
                if not keys:
                    del self._bound[a]

    def _rework_bound(self) -> None:
        """The counters of some accounts moved (``RiskBook.moved``): their risk-capped brokers
        whose binding limit the moves may have given room are worked again (released, or their
        children topped up); a move toward the limit leaves them as they are until next worked."""
        for a, moved in self.risk.moved.items():
            for k in list(self._bound.get(a, ())):
                b = self.brokers.get(k)
                if b is not None and (b.status == NEW_ACTIVE or b.status == NEW_HOLD):
                    if headroom_grew(b.risk_desc, moved):
                        self._touched(b)
                        self._reprice.add(k)
                elif b is not None and not is_open(b.status):
                    self._set_bound(b, False)  # closed since: capped by nothing
        self.risk.moved.clear()

    def _ema_fill(self, b: Broker, per: tuple[float, ...], q: float, now: int) -> None:
        """A fill adds to the watched EMA-cancel flows of its symbol and account; a flow beyond
        a limit of a broker watching it is a breach: every option child of the scope is
        pulled at once and its brokers held until the flow decays (``_risk_size``).  A fill
        compares the flow with the tightest watcher limits only; the watchers are looked at
        one by one when it is beyond those (closed ones are dropped then)."""
        risk = self.risk
        for key in self._ema_keys(b):
            if key not in risk.watch:
                continue
            risk.ema_fill((key,), per, q, now)
            vals = risk.ema_values(key, now)
            if vals is None or not risk.beyond(key, vals):
                continue
            sym = key[0] == "sym"
            for bk, emas in list(risk.watch.get(key, {}).items()):
                w = self.brokers.get(bk)
                if w is None or not is_open(w.status) or w.status == CLOSING:
                    risk.drop_watch(key, bk)
                    continue
                hit = ema_breach(emas, (vals, None) if sym else (None, vals))
                if hit is not None:
                    fresh = risk.held((key,), now) is None
                    risk.breach(key, hit[0], hit[1], now)
                    if fresh:
                        self._ema_cancel(key, now)
                    break

    def _ema_cancel(self, key: tuple[Any, ...], now: int) -> None:
        """Pull every option child of the EMA scope ``key`` (accnt, firm[, symbol]) now and
        re-work its brokers (held by ``_risk_size``)."""
        for b in self.brokers.values():
            if not is_open(b.status) or b.status == CLOSING or is_stock(b.okey):
                continue
            if key not in self._ema_keys(b):
                continue
            self._pull(b, now)
            self._touched(b, records=True)
            self._reprice.add(b.key)

    # ================================================================= journal and publish
    def _flush(self) -> None:
        now = self.clock.time_ns()
        for g in self._groups_dirty:
            self._out.append((RGC, counter_record(self.mt[RGC], g, self.risk.group(g),
                                                  "RiskExec", now)))
            self._puts.append(("group", orjson.dumps(list(g)).decode(),
                               orjson.dumps(self.risk.group(g).body())))
        self._groups_dirty.clear()
        if self.risk.dirty:  # symbol/expiry counters and EMA flows the step changed
            if self.journal is not None:
                self._puts.extend(self.risk.journal_rows())
            self.risk.dirty.clear()
        if self.journal is not None:
            if self._owed and (not self._hold_owed or len(self._owed) >= _OWED_MAX):
                self._dirty |= self._owed  # not a plain open's own commit: pay what is owed
                self._owed.clear()
            self._hold_owed = False
            jnupd = self.cols.jnupd
            for k in self._dirty:
                b = self.brokers[k]
                self._puts.append(("broker", b.jkey or _jkey(b), self._broker_body(b)))
                if b.slot >= 0:
                    jnupd[b.slot] = 0  # the body holds its numUpdates now
            self.venue_rows.write(self, self._puts, self._deletes)
        self._dirty.clear()
        if self._puts or self._deletes:
            seq = self.fill_seq
            if seq != self._journaled_fill_seq:  # the meta row only when it changed
                self._puts.append(("meta", "fill_seq", str(seq).encode()))
            if self.journal is not None:
                self.journal.commit(self._puts, self._deletes)
            self._journaled_fill_seq = seq
            self._puts = []
            self._deletes = []
        out, self._out = self._out, []
        for name, rec in out:
            if name == EX:
                self.fills_published += 1
            if isinstance(rec, StateBatch):
                assert self.publish_batch is not None
                self.publish_batch(self.mt[name], rec.data)
            else:
                self.publish(self.mt[name], rec)

    def _pending_body(self, b: Broker) -> list[Any] | None:
        """A replace or a Modify waiting for the children to be pulled, for the journal."""
        p = b.pending
        if p is None:
            return None
        body = [p[0], message_encoder(self.mt[PO])(p[1]), sorted(p[2])]
        if p[0] == "modify":
            body.append(message_encoder(self.mt[PO])(p[3]))  # the merged parent
        return body

    def _encoded(self, b: Broker, what: str, rec: dict[str, Any]) -> Any:
        hit = b.enc.get(what)
        if hit is not None and hit[0] is rec:
            return hit[1]
        enc = message_encoder(self.mt[PO if what == "parent" else PL])(rec)
        b.enc[what] = (rec, enc)
        return enc

    def _broker_body(self, b: Broker) -> bytes:
        """The broker's journal body: its records (encoded once per record) and raw fields;
        no published record is rebuilt for it."""
        lim = b.lim
        # the sorted sent-field lists, once per (frozen) set of each
        hit = b.enc.get("sent")
        if hit is None or hit[0][0] is not b.sent or hit[0][1] is not b.limit_sent:
            hit = b.enc["sent"] = ((b.sent, b.limit_sent), (sorted(b.sent), sorted(b.limit_sent)))
        body = {
            "sent": hit[1][0],
            "limit": None if b.limit is None else self._encoded(b, "limit", b.limit),
            "limitSent": hit[1][1],
            "mkt": _mkt_body(b),
            "lim": [_nn(lim.limit_price), _nn(lim.take_limit), _nn(lim.make_limit),
                    lim.limit_err, lim.take_err, lim.make_err],
            "risk": [b.risk_size, b.risk_desc, b.risk_detail],
            "status": list(b.status), "parentNumber": b.parent_number,
            "baseParent": b.base_parent, "modifyNumber": b.modify_number, "cum": b.cum,
            "notional": b.notional, "uNotional": b.u_notional, "volNotional": b.vol_notional,
            "cumVega": b.cum_vega, "cumDd": b.cum_dd, "cumFee": b.cum_fee,
            "parentCum": b.parent_cum, "parentNotional": b.parent_notional,
            "lastFill": b.last_fill_ns, "closeReason": b.close_reason,
            "rejectReason": b.reject_reason, "comment": b.comment,
            "numUpdates": b.num_updates, "numNewOrders": b.num_new_orders,
            "numParentLimits": b.num_parent_limits, "maxProgress": b.max_progress,
            "eventNumber": b.event_number, "startNs": b.start_ns, "expireNs": b.expire_ns,
            "arriveBid": _nn(b.arrive_bid), "arriveAsk": _nn(b.arrive_ask),
            "pending": self._pending_body(b), "exposeNs": b.expose_ns, "want": b.want,
            "seq": [b.made, b.opened, b.series_made],
        }
        row = b.enc.get("row")
        if row is not None and row[0] is b.parent:
            # the parent is the very record of its ``parent`` row (never deleted): named, not
            # written again -- the body stays below SQLite's in-page size (~1,000 bytes in a
            # WITHOUT ROWID table); beyond it each body took an overflow page of its own
            body["parentRow"] = int(b.parent["parentNumber"])
        else:
            body["parent"] = self._encoded(b, "parent", b.parent)
        return orjson.dumps(body)

    # ================================================================= restart
    def restore(self) -> int:
        """Rebuild from the journal (brokers, fills, groups, parents, and the venue row: the
        simulated venue's state with the children it holds) and republish the live records;
        returns the number of brokers.  The venue continues where its last journaled state
        left it (resting children keep their queue priority, in-flight actions stay due)."""
        if self.journal is None:
            return 0
        j = self.journal
        now = self.clock.time_ns()
        po, pl = self.mt[PO], self.mt[PL]
        for k, body in j.items("meta"):
            if k == "fill_seq":
                self.fill_seq = int(body)
        opened = []
        self._parent_rows = {}
        for _k, body in j.items("parent"):
            d = orjson.loads(body)
            extra = d.pop(_OPENED, None)
            rec = _full(po, decode_record(po, d))
            self.parents[int(rec["parentNumber"])] = self._key(rec)
            self._parent_rows[int(rec["parentNumber"])] = rec
            if extra is not None:
                opened.append((int(rec["parentNumber"]), rec, extra))
        for k, body in j.items("group"):
            a, f, g = orjson.loads(k)
            self.risk.groups[(a, f, int(g))] = Counter.from_body(orjson.loads(body))
        self.risk.restore(j.items)
        for k, body in j.items("gctl"):
            a, f, g = orjson.loads(k)
            if body == b"1":
                self.disabled_groups.add((a, f, int(g)))
        fills = restore_execs(self, j.items("fill"))
        self.fill_seq = max([self.fill_seq, *(int(r["fillNumber"]) for r in fills)])
        self._journaled_fill_seq = self.fill_seq
        n = self._restore_brokers(j)
        self._restore_moves(j)
        restore_venue(self, j, now)
        self._pending_limits = {}
        for _k, body in j.items("limit"):
            lrec, lsent, _ins = orjson.loads(body)
            rec = _full(pl, decode_record(pl, lrec))
            key = tuple(rec[f.name] for f in self.mt[BS].pkey_fields)
            if key not in self.brokers:
                self._pending_limits[key] = (rec, frozenset(lsent))
        self._parent_rows = {}
        self._reopen(sorted(opened, key=lambda o: o[0]))
        # republish what clients read: executions, then each broker's last state
        for r in fills:
            self.publish(self.mt[EX], r)
        for b in self.brokers.values():
            st = state_record(b, now)
            st["numUpdates"] = b.num_updates
            self.publish(self.mt[BS], st)
        for g, cnt in self.risk.groups.items():
            self.publish(self.mt[RGC], counter_record(self.mt[RGC], g, cnt, "RiskExec", now))
        # brokers closing when the process died with no child left at the venue (a journal
        # without a venue row: none survived): closed now; a journaled Modify waiting to see
        # the children pulled applies now when none is left (else when the venue confirms)
        for b in list(self.brokers.values()):
            if b.children:
                continue
            if b.status == CLOSING:
                self._finish_close(b, now)
            elif b.pending is not None and b.pending[0] == "modify" and is_open(b.status):
                _, rec, sent, merged = b.pending
                b.pending = None
                # worked at the first tick, with the market (the restarted store has none
                # yet: a pass now would send every open broker's children at no market)
                self._apply_modify(b, rec, sent, merged, now, reprice=False)
        self._flush()
        return n

    def _restore_brokers(self, j: JournalStore) -> int:
        """The journaled brokers, back in the orders the process held them in: ``brokers``
        as they were made, each series' open brokers as they were opened, the series as
        their entries were made (``Broker.made``/``opened``/``series_made``; a journal
        written before these numbers: the journal's key order)."""
        bs = [self._broker_from(orjson.loads(body)) for _k, body in j.items("broker")]
        bs.sort(key=lambda b: b.made)  # stable: a journal without the numbers keeps key order
        for b in bs:
            restored_auction(b)
            self.brokers[b.key] = b
            b.pub_sig = (b.parent_number, None)
        live = sorted((b for b in bs if is_open(b.status)), key=_OPENED_ORDER)
        for b in sorted(live, key=lambda b: b.series_made):
            if b.okey not in self.by_series:
                self.by_series[b.okey] = {}
                self._series_made[b.okey] = b.series_made
        for b in live:
            self.by_series[b.okey][b.key] = b
            self._track_expiry(b)
            self._reprice.add(b.key)
            if b.status == PEND_NEW:
                self._new.add(b.key)
        self._seq = max([self._seq, *(max(b.made, b.opened, b.series_made) for b in bs)])
        return len(bs)

    def _reopen(self, opened: list[tuple[int, dict[str, Any], list[Any]]]) -> None:
        """Plain opens whose broker body the process died owing (``_owed``): each broker is
        opened again as it was (PendNew, the same time and arrival quote); what they
        published before the crash is not published twice."""
        for pn, rec, (sent, ns, abid, aask) in opened:
            key = self._key(rec)
            b = self.brokers.get(key)
            if b is not None and b.parent_number >= pn:
                continue  # the broker's body was journaled after the open
            n_out = len(self._out)
            self._open(b, key, rec, frozenset(sent), int(ns))
            del self._out[n_out:]
            b = self.brokers[key]
            b.arrive_bid = math.nan if abid is None else abid
            b.arrive_ask = math.nan if aask is None else aask
            b.pub_sig = (b.parent_number, None)

    def _restore_moves(self, j: JournalStore) -> None:
        """Fast re-pricing passes journaled after a broker's body (``_journal_moves``; ``px``:
        one row per broker, as journals written before the packed rows have them).  A broker
        whose numUpdates they raise is journaled again by the restore's commit, which deletes
        them all."""
        best: dict[tuple[Any, ...], int] = {}
        for k, body in j.items("pxp"):
            pairs = np.frombuffer(body, "<i8").reshape(-1, 2)
            for pn, n in pairs.tolist():
                key = self.parents.get(pn)
                if key is not None and best.get(key, -1) < n:
                    best[key] = n
            self._deletes.append(("pxp", k))
            self._pxp_seq = max(self._pxp_seq, int(k, 16))
        by_key = {_bkey(k): k for k in self.brokers}
        for k, body in j.items("px"):
            key = by_key.get(k)
            if key is not None and best.get(key, -1) < int(body):
                best[key] = int(body)
            self._deletes.append(("px", k))
        for key, n in best.items():
            b = self.brokers.get(key)
            if b is not None and n > b.num_updates:
                b.num_updates = n
                self._dirty.add(key)

    def _broker_from(self, d: dict[str, Any]) -> Broker:
        po, pl = self.mt[PO], self.mt[PL]
        row = d.get("parentRow")
        if row is not None:  # the parent is its parent row's record (``_broker_body``)
            parent = dict(self._parent_rows[int(row)])
        else:
            parent = _full(po, decode_record(po, d["parent"]))
        key = self._key(parent)
        side = 1 if name_of(PO, "orderSide", parent["orderSide"]) == "Buy" else -1
        b = Broker(key=key, okey=parent["secKey"], side=side, parent=parent,
                   sent=frozenset(d["sent"]))
        if row is not None:
            b.enc["row"] = (parent, None)
        if d["limit"] is not None:
            b.limit = _full(pl, decode_record(pl, d["limit"]))
            b.limit_sent = frozenset(d["limitSent"])
        b.status = (d["status"][0], d["status"][1])
        b.parent_number, b.base_parent = d["parentNumber"], d["baseParent"]
        b.modify_number, b.cum, b.notional = d["modifyNumber"], d["cum"], d["notional"]
        b.u_notional, b.vol_notional = d["uNotional"], d["volNotional"]
        b.cum_vega, b.cum_dd, b.cum_fee = d["cumVega"], d["cumDd"], d["cumFee"]
        b.parent_cum, b.parent_notional = d["parentCum"], d["parentNotional"]
        b.last_fill_ns, b.close_reason = d["lastFill"], d["closeReason"]
        b.reject_reason, b.comment = d["rejectReason"], d["comment"]
        b.num_updates, b.num_new_orders = d["numUpdates"], d["numNewOrders"]
        b.num_parent_limits, b.max_progress = d["numParentLimits"], d["maxProgress"]
        b.event_number, b.start_ns, b.expire_ns = d["eventNumber"], d["startNs"], d["expireNs"]
        b.arrive_bid = math.nan if d["arriveBid"] is None else d["arriveBid"]
        b.arrive_ask = math.nan if d["arriveAsk"] is None else d["arriveAsk"]
        # when the exposure began (progressExposeTime counts from it across a restart; a
        # journal written before this field: the exposure starts again)
        b.expose_ns = int(d.get("exposeNs", 0))
        b.want = int(d.get("want", 0))  # (a journal before it: no top-up until re-sized)
        b.made, b.opened, b.series_made = d.get("seq", (0, 0, 0))
        if "mkt" in d:
            mk = d["mkt"]
            pairs = zip(MKT_NAMES, mk, strict=True) if isinstance(mk, list) else mk.items()
            b.mkt = {k: math.nan if v is None else v for k, v in pairs}
            lp, tl, ml, le, te, me = d["lim"]
            b.lim = LimitView(math.nan if lp is None else lp, math.nan if tl is None else tl,
                              math.nan if ml is None else ml, le, te, me)
            b.risk_size, b.risk_desc, b.risk_detail = d["risk"]
            b.mkt["qv"] = -1.0
        else:  # a journal written before the raw fields: the state record
            self._restore_from_state(b, d)
        pend = d.get("pending")
        if pend is not None and pend[0] == "replace":
            b.pending = ("replace", _full(po, decode_record(po, pend[1])), frozenset(pend[2]))
        elif pend is not None and pend[0] == "modify":
            b.pending = ("modify", _full(po, decode_record(po, pend[1])), frozenset(pend[2]),
                         _full(po, decode_record(po, pend[3])))
        return b

    def _restore_from_state(self, b: Broker, d: dict[str, Any]) -> None:
        st = _full(self.mt[BS], decode_record(self.mt[BS], d["state"]))
        b.mkt = {"bid": st["nbboBid"], "ask": st["nbboAsk"], "bid_size": st["nbboBidSz"],
                 "ask_size": st["nbboAskSz"], "u_prc": st["uPrc"], "s_vol": st["surfaceVol"],
                 "s_prc": st["surfacePrc"], "de": st["cnDe"], "ga": st["cnGa"], "ve": st["cnVe"],
                 "years": st["cnYrs"], "point_value": st["pointValue"] or 100.0,
                 "u_bid": math.nan, "u_ask": math.nan, "s_mark": math.nan, "qv": -1.0}
        b.lim = LimitView(st["limitPrice"] or math.nan, st["takeLimitPrice"] or math.nan,
                          st["makeLimitPrice"] or math.nan, st["limitErr"], st["takeLimitErr"],
                          st["makeLimitErr"])
        b.risk_size = st["riskLimitSize"]
        b.risk_desc = name_of(BS, "riskLimitDesc", st["riskLimitDesc"])
        b.risk_detail = st["riskLimitDetail"]


# ===================================================================== helpers
_OPENED_ORDER = attrgetter("opened")
_MLINK = registry()[PO].field("spdrSource").enum.names.index("MLink")  # type: ignore[union-attr]


def _with_source(rec: dict[str, Any]) -> dict[str, Any]:
    """(inferred) a record posted without ``spdrSource`` came in through MLink: orders and
    their limit records then share the broker key whether or not the client sent it (the
    seed's orders omit it, its limit records send ``MLink``)."""
    rec = dict(rec)
    if not rec.get("spdrSource"):
        rec["spdrSource"] = _MLINK
    return rec
#: venue events that change a broker (an ack, a refused cancel or a price modify leave its
#: records as they were)
_CHANGING = frozenset({"fill", "cancelled", "expired", "rejected"})
#: marketSession -> the session_state values in which children may be live (None and
#: AllDay: no restriction, inferred)
_SESSIONS: dict[str, frozenset[str]] = {
    "PreMkt": frozenset({"PreOpen"}), "RegMkt": frozenset({"Open"}),
    "PostMkt": frozenset({"AfterHours"}), "PreRegMkt": frozenset({"PreOpen", "Open"}),
    "RegPostMkt": frozenset({"Open", "AfterHours"})}


def _allowed_sessions(b: Broker) -> frozenset[str] | None:
    return _SESSIONS.get(name_of(PO, "marketSession", int(b.parent["marketSession"])))


def _session_hold(b: Broker, now: int) -> str:
    """The hold text when the market session is not one ``marketSession`` allows."""
    allowed = _allowed_sessions(b)
    if allowed is None:
        return ""
    sess = session_state(now)
    if sess in allowed:
        return ""
    name = name_of(PO, "marketSession", int(b.parent["marketSession"]))
    return (f"market session {sess}: marketSession {name} has children only in "
            f"{'/'.join(sorted(allowed))}")


_DISABLED = "risk group disabled (SpdrRiskGroupControl isDisabled Yes): no children"
_RM_SET = frozenset(RM_FIELDS)


def _mkt_body(b: Broker) -> list[float | None] | dict[str, float | None]:
    """The broker's market for its journal body: a list in ``MKT_NAMES`` order when it has
    every value (a dict's names cost ~150 bytes a body), else the dict."""
    m = b.mkt
    if isinstance(m, MarketRow):  # the row of the manager's matrix, in MKT_NAMES order
        vals = m.values_list()
    elif len(m) == len(MKT_NAMES) and all(k in m for k in MKT_NAMES):
        vals = [m[k] for k in MKT_NAMES]
    else:
        return {k: _nn(v) for k, v in m.items()}
    return [x if x - x == 0.0 else None for x in vals]  # x - x is 0 only for a finite x


def _fin(x: float) -> bool:
    return x == x and not math.isinf(x)


def _nn(x: float) -> float | None:
    return x if _fin(x) else None


def _hex(n: int) -> str:
    return f"{n & ((1 << 64) - 1):016X}"


def limit_key(key: tuple[Any, ...]) -> str:
    """The journal key of a broker key's limit record."""
    return _bkey(key)


def with_source(rec: dict[str, Any]) -> dict[str, Any]:
    """``rec`` as the manager works it (``spdrSource`` MLink when the client sent none)."""
    return _with_source(rec)


def _bkey(key: tuple[Any, ...]) -> str:
    return "|".join(str(x) for x in key)


def _jkey(b: Broker) -> str:
    """The broker's journal key (``_bkey``), computed once."""
    b.jkey = _bkey(b.key)
    return b.jkey


def _full(mt: MsgType, rec: dict[str, Any]) -> dict[str, Any]:
    out = {f.name: f.default for f in mt.fields}
    out.update(rec)
    return out
