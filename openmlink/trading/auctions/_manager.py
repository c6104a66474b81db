"""The auction engine (trading.md §3): sans-I/O.  The order manager hands it parent orders
with ``parentOrderHandling`` BlockAuction / FlashAuction (``check`` then ``start``); clients'
NoticeResponse records come in through ``response_error`` / ``on_response``; ``on_timer``
runs the trials that are due.  AuctionNotice, AuctionState and NoticeExecReport records go out
through ``publish``; crosses go back to the order manager (``auction_cross`` /
``auction_end``), which turns them into executions on its fill path.
"""

from __future__ import annotations

import functools
import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...clock import Clock
from ...schema import MsgType, OptionKey, Registry, TickerKey, registry
from ..orders import Broker, OrderManager
from ._audience import Audience, audience_rule
from ._config import AuctionConfig
from ._responders import SimResponder, population, step_up
from ._trial import (
    NBBO_CAP_PENNIES,
    NO_MATCH,
    Allocator,
    Solution,
    allocate_pro_rata,
    effective_prices,
    solve,
)

__all__ = ["AUCTION_HANDLING", "Auction", "AuctionManager", "Response"]

log = logging.getLogger("openmlink.trading.auctions")

AN, AS, NR, NX = "AuctionNotice", "AuctionState", "NoticeResponse", "NoticeExecReport"
PO = "SpdrParentOrder"
#: parentOrderHandling -> auction type (the DAC/POC/PCV block variants run as plain blocks)
AUCTION_HANDLING = {"BlockAuction": "Block", "BlockAuctionDAC": "Block",
                    "BlockAuctionPOC": "Block", "BlockAuctionPCV": "Block",
                    "FlashAuction": "Flash"}
#: takeReachRule -> custQtyCond (the initiator's size condition)
_QTY_COND = {"AllOrNone": "AllOrNone", "QtyOrMore": "QtyOrMore", "UpToQty": "UpToQty",
             "None": "UpToQty", "FullSize": "AllOrNone", "AtMost25": "UpToQty",
             "AtMost50": "UpToQty"}
#: takeReachRule -> the most of the initiator's size one response may take (§3.2 step 3:
#: AtMost25/50 cap each response at 25/50 % of Q).  (inferred) MLink's NoticeResponse has no
#: reach-rule field (FIX's SRTakeReachRule is the responder's), so over MLink the initiator's
#: order states it for every response; the size condition is then UpToQty.
_RESP_SHARE = {"AtMost25": 0.25, "AtMost50": 0.50}
_DAY_NS = 86_400 * 1_000_000_000


@dataclass(slots=True)
class Response:
    """The live response of one (accnt, clientFirm) to one auction (a new responseId
    replaces the previous one: one NoticeExecReport chain per pair)."""

    accnt: str
    firm: str
    response_id: str
    side: int
    size: int
    price: float
    arrive_ns: int
    seq: int
    base_parent: int
    ref_u: float = 0.0
    de: float = 0.0
    ga: float = 0.0
    adjusted: bool = False
    min_u: float = 0.0
    max_u: float = 0.0
    sim: bool = False
    live: bool = True
    filled: int = 0
    fill_price: float = 0.0
    last_trial_px: float = 0.0
    result: str = "Pending"
    status: str = "New"
    first_ns: int = 0
    rec: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Auction:
    notice: int
    key: tuple[Any, ...]
    parent_number: int
    okey: OptionKey
    kind: str  # "Block" | "Flash"
    init_side: int
    qty: int
    cond: str
    visibility: str
    cap: str
    allow_immediate: bool
    start_ns: int
    end_ns: int
    next_ns: int
    tick: float
    u_lo: float = -math.inf
    u_hi: float = math.inf
    counter: int = 0
    status: str = "Active"
    sims: list[SimResponder] = field(default_factory=list)
    responses: dict[tuple[str, str], Response] = field(default_factory=dict)
    bid: Solution = NO_MATCH
    ask: Solution = NO_MATCH
    trial_times: list[int] = field(default_factory=list)
    fills: list[tuple[str, str, int, float]] = field(default_factory=list)  # accnt, firm, q, px
    init_fill: int = 0
    match_price: float = math.nan
    rng: Any = None
    published: int = 0
    #: the most of ``qty`` one response may take (takeReachRule AtMost25/50); 1.0: all
    resp_share: float = 1.0


class AuctionManager:
    def __init__(self, reg: Registry, manager: OrderManager, clock: Clock,
                 publish: Callable[[MsgType, dict[str, Any]], None],
                 config: AuctionConfig | None = None,
                 allocator: Allocator = allocate_pro_rata) -> None:
        self.reg = reg
        self.manager = manager
        self.clock = clock
        self.publish = publish
        self.config = config or AuctionConfig()
        self.allocator = allocator
        self.mt = {n: reg[n] for n in (AN, AS, NR, NX)}
        self.live: dict[int, Auction] = {}
        self.finished: OrderedDict[int, Auction] = OrderedDict()
        #: which firms see (and may respond to) each auction; the engine registers its row
        #: rule on the store so that reads follow it
        self.audience = Audience()
        self.notice_seq = (clock.time_ns() // 1_000_000_000 % (1 << 31)) << 24
        self.base_seq = self.notice_seq
        self.resp_seq = 0
        self.responses_accepted = 0

    # ================================================================= initiation
    def handles(self, handling: str) -> bool:
        return handling in AUCTION_HANDLING

    def check(self, b: Broker) -> tuple[str, str] | None:
        """None when the broker's parent may start an auction, else (SpdrRejectReason, text):
        a Prc limit at least mid-market against the NBBO or the surface price (§3.1)."""
        p = b.parent
        ltype = _name(PO, "orderLimitType", p["orderLimitType"])
        if ltype != "Prc":
            return "BadLmtType", (f"orderLimitType: {ltype}: an auction order needs a price "
                                  "limit (orderLimitType Prc with orderPrcLimit)")
        if len(self.live) >= self.config.max_auctions:
            return "SysReject", (f"parentOrderHandling: {len(self.live)} auctions are running "
                                 "(the most this server runs at once); try again later")
        cond = _name(PO, "takeReachRule", p["takeReachRule"])
        if cond not in _QTY_COND:
            return "BadOrdType", (f"takeReachRule: {cond} is not an auction size condition "
                                  "(use AllOrNone, QtyOrMore, UpToQty, AtMost25 or AtMost50)")
        limit = float(b.value("orderPrcLimit"))
        q = self.manager.market.nbbo(b.okey)
        bid, ask = (q.bid, q.ask) if q is not None else (0.0, 0.0)
        mid = 0.5 * (bid + ask) if bid > 0 and ask > 0 else math.nan
        mkt, _ = self.manager.market.series_market([b.okey])
        spx = float(mkt.s_prc[0])
        refs = [r for r in (mid, spx) if math.isfinite(r) and r > 0]
        if not refs:
            return "BadOptMkt", (f"secKey: {b.okey} has no two-sided NBBO and no surface price "
                                 "to check the auction limit against")
        # a seller's limit at or below mid (a buyer's at or above) against either reference
        ok = any((limit <= r + 1e-9) if b.side < 0 else (limit >= r - 1e-9) for r in refs)
        if not ok:
            side = "sell" if b.side < 0 else "buy"
            return "BadLimit", (f"orderPrcLimit: {side} limit {limit:g} is not at least "
                                f"mid-market (NBBO mid {mid:g}, surface price {spx:g}); an "
                                "auction limit must be at mid or better for the responders")
        return None

    def start(self, b: Broker, now: int) -> int:
        """Start the auction for broker ``b`` (checked); returns its noticeNumber."""
        p = b.parent
        kind = AUCTION_HANDLING[_name(PO, "parentOrderHandling", p["parentOrderHandling"])]
        self.notice_seq += 1
        nn = self.notice_seq
        cfg = self.config
        if kind == "Flash":
            dur = cfg.flash_window_ns
            first = now + dur
        else:
            secs = int(p["activeDuration"]) if int(p["activeDuration"]) > 0 \
                else cfg.block_default_s
            dur = int(min(float(secs), cfg.block_max_s) * 1e9)
            first = now + int(cfg.block_trial_s * 1e9)
        info = self.manager.market.info(b.okey)
        limit = float(b.value("orderPrcLimit"))
        tick = info.tick_below3 if limit < 3.0 else info.tick_above3
        reach = _name(PO, "takeReachRule", p["takeReachRule"])
        cond = _QTY_COND[reach]
        vis = _name(PO, "atsVisibility", p["atsVisibility"])
        a = Auction(nn, b.key, b.parent_number, b.okey, kind, b.side, b.workable(), cond,
                    vis if vis != "None" else "SidePrice",
                    _name(PO, "nbboCap", p["nbboCap"]),
                    _name(PO, "progressRule", p["progressRule"]) in ("AllowImmediate",
                                                                     "AutoComplete"),
                    now, now + dur, min(first, now + dur), tick)
        a.resp_share = _RESP_SHARE.get(reach, 1.0)
        u_mid = _u_mid(b.mkt)
        if _name(PO, "cxlUPrcRange", p["cxlUPrcRange"]) in ("Yes", "YesHalt") \
                and math.isfinite(u_mid):
            lo, hi = float(p["minUBid"]), float(p["maxUAsk"])
            if _name(PO, "minMaxType", p["minMaxType"]) == "Pct":
                a.u_lo = u_mid * (1.0 + lo) if lo else -math.inf
                a.u_hi = u_mid * (1.0 + hi) if hi else math.inf
            else:
                a.u_lo = lo if lo > 0 else -math.inf
                a.u_hi = hi if hi > 0 else math.inf
        fair = float(b.mkt.get("s_prc", math.nan))
        if not (math.isfinite(fair) and fair > 0):
            bid, ask = b.mkt.get("bid", math.nan), b.mkt.get("ask", math.nan)
            fair = 0.5 * (bid + ask) if bid > 0 and ask > 0 else math.nan
        rule = audience_rule(p)
        # (inferred) the simulated responders stand for the SR network: includeSRNetwork
        # Exclude leaves them out
        if rule is None or rule.network:
            a.sims = population(cfg, nn, flash=kind == "Flash", init_side=b.side, qty=a.qty,
                                all_or_none=cond == "AllOrNone", visibility=a.visibility,
                                fair=fair, vega=float(b.mkt.get("ve", math.nan)), tick=tick,
                                start_ns=now, window_ns=dur)
        a.rng = np.random.default_rng([cfg.seed, nn & 0xFFFFFFFF, 7])
        self.live[nn] = a
        self.audience.add(nn, p)  # before the first record of the auction goes out
        self.publish(self.mt[AN], self._notice(a, b, "Start", now))
        return nn

    def end_orphan(self, b: Broker, responses: list[dict[str, Any]], now: int) -> None:
        """An auction that died with the previous process (its broker restored from the
        journal): publish its end as a failed cross -- AuctionState CrossFailed (and Closed for
        a block), AuctionNotice End, and a NoticeExecReport DidNotTrade for each stored
        response -- so subscribers by noticeNumber and responders see it finish.  (inferred) A
        restarted server does not resume an auction: its responses' timing, the simulated
        population's state and the trial grid are gone, and a cross after the fact could
        trade at a price nobody saw; the order manager then closes the broker CrossFailed."""
        nn = int(b.parent.get("noticeNumber") or 0)
        if not nn or nn in self.live:
            return
        p = b.parent
        kind = AUCTION_HANDLING.get(_name(PO, "parentOrderHandling", p["parentOrderHandling"]),
                                    "Block")
        vis = _name(PO, "atsVisibility", p["atsVisibility"])
        a = Auction(nn, b.key, b.parent_number, b.okey, kind, b.side, b.workable(),
                    _QTY_COND.get(_name(PO, "takeReachRule", p["takeReachRule"]), "UpToQty"),
                    vis if vis != "None" else "SidePrice", _name(PO, "nbboCap", p["nbboCap"]),
                    False, b.start_ns or now, now, now, 0.01)
        a.status = "CrossFailed"
        self.audience.add(nn, p)
        self._publish_state(a, b, "CrossFailed", now)
        if kind == "Block":
            self._publish_state(a, b, "Closed", now)
        for rec in responses:
            if int(rec.get("noticeNumber") or 0) != nn or int(rec.get("respSize") or 0) <= 0:
                continue
            self.base_seq += 1
            r = Response(str(rec["accnt"]), str(rec.get("clientFirm") or ""),
                         str(rec.get("responseId") or ""),
                         1 if _name(NR, "respSide", int(rec["respSide"])) == "Buy" else -1,
                         int(rec["respSize"]), float(rec["respPrice"]), now, 0, self.base_seq,
                         live=False, result="DidNotTrade", status="Closed", first_ns=now,
                         rec=dict(rec))
            self.publish(self.mt[NX], self._exec_report(a, r, now))
        self.publish(self.mt[AN], self._notice(a, b, "End", now))

    # ================================================================= responses
    def response_error(self, rec: dict[str, Any], now: int) -> str | None:
        """Why a posted NoticeResponse cannot be taken (None: it can); the text goes back in
        the PostAck."""
        nn = int(rec.get("noticeNumber") or 0)
        a = self.live.get(nn)
        if a is None:
            done = self.finished.get(nn)
            if done is not None:
                return (f"noticeNumber: auction {nn:016X} has ended ({done.status}); responses "
                        "after the end are rejected")
            return f"noticeNumber: {nn:016X} is not an auction open for responses"
        if now >= a.end_ns or a.status != "Active":
            return (f"noticeNumber: auction {nn:016X} has ended ({a.status}); responses after "
                    "the end are rejected")
        if not rec.get("accnt"):
            return "accnt: required (the account the response trades for)"
        if not rec.get("responseId"):
            return "responseId: required (echoed on NoticeExecReport)"
        size = int(rec.get("respSize") or 0)
        if size < 0:
            return f"respSize: {size} must be a number of contracts (0 cancels the response)"
        if size == 0:
            return None
        side = _name(NR, "respSide", int(rec.get("respSide") or 0))
        if side not in ("Buy", "Sell"):
            return f"respSide: '{side}' is not Buy or Sell"
        if a.visibility != "Neither" and (1 if side == "Buy" else -1) == a.init_side:
            return (f"respSide: {side} is the initiator's side of auction {nn:016X}; respond "
                    f"{'Sell' if side == 'Buy' else 'Buy'}")
        px = float(rec.get("respPrice") or 0.0)
        if not (math.isfinite(px) and px > 0):
            return f"respPrice: {px:g} must be a positive price"
        if abs(px * 1e4 - round(px * 1e4)) > 1e-6:
            return f"respPrice: {px} has more than 4 decimals"
        b = self.manager.brokers.get(a.key)
        if b is not None and b.parent["accnt"] == rec.get("accnt"):
            return "accnt: an account cannot respond to its own auction"
        firm = str(rec.get("clientFirm") or "")
        if not self.audience.sees(nn, firm):
            return f"clientFirm: {firm or '(none)'} is not invited to auction {nn:016X}"
        g = (str(rec.get("accnt") or ""), firm, int(rec.get("riskGroupId") or 0))
        if g in self.manager.disabled_groups:
            return (f"riskGroupId: risk group {g[2]} of accnt {g[0]} (firm {firm or '-'}) is "
                    "disabled by SpdrRiskGroupControl isDisabled Yes; post isDisabled No for the "
                    "group to respond")
        if (str(rec.get("accnt")), firm) not in a.responses \
                and len(a.responses) >= self.config.max_responses:
            return f"noticeNumber: auction {nn:016X} has its most responses already"
        return None

    def on_response(self, rec: dict[str, Any], now: int, *, deleted: bool = False) -> None:
        """A stored NoticeResponse (checked by ``response_error``); size 0 or a delete
        cancels the pair's live response."""
        nn = int(rec.get("noticeNumber") or 0)
        a = self.live.get(nn)
        if a is None or a.status != "Active":
            return
        pair = (str(rec["accnt"]), str(rec.get("clientFirm") or ""))
        prev = a.responses.get(pair)
        size = 0 if deleted else int(rec.get("respSize") or 0)
        if size <= 0:
            if prev is not None and prev.live:
                prev.live, prev.status, prev.result = False, "Closed", "DidNotTrade"
                prev.response_id = str(rec.get("responseId") or prev.response_id)
                self.publish(self.mt[NX], self._exec_report(a, prev, now))
            return
        self.resp_seq += 1
        if prev is None:
            self.base_seq += 1
        adj = _name(NR, "deltaAdj", int(rec.get("deltaAdj") or 0)) != "None"
        r = Response(pair[0], pair[1], str(rec["responseId"]),
                     1 if _name(NR, "respSide", int(rec["respSide"])) == "Buy" else -1,
                     size, float(rec["respPrice"]), now, self.resp_seq,
                     prev.base_parent if prev is not None else self.base_seq,
                     float(rec.get("refUPrc") or 0.0), float(rec.get("refDe") or 0.0),
                     float(rec.get("refGa") or 0.0), adj and float(rec.get("refUPrc") or 0) > 0,
                     float(rec.get("minUBid") or 0.0), float(rec.get("maxUAsk") or 0.0),
                     first_ns=prev.first_ns if prev is not None else now, rec=dict(rec))
        a.responses[pair] = r
        self.responses_accepted += 1
        self.publish(self.mt[NX], self._exec_report(a, r, now))

    # ================================================================= trials
    def next_due(self) -> int | None:
        return min((a.next_ns for a in self.live.values()), default=None)

    def on_timer(self, now: int) -> None:
        for a in [a for a in self.live.values() if a.next_ns <= now]:
            if a.status != "Active":  # a block auction's Closed record, one period after
                self._publish_state(a, self.manager.brokers.get(a.key), "Closed", now)
                a.status = "Closed"
                self._retire(a)
                continue
            try:
                self._trial(a, now)
            except Exception:
                log.exception("auction %X: trial failed; the auction ends CrossFailed", a.notice)
                self._end(a, "CrossFailed", now, reason="CrossFailed")

    def _trial(self, a: Auction, now: int) -> None:
        b = self.manager.brokers.get(a.key)
        if b is None or b.parent_number != a.parent_number or b.auction != a.notice \
                or b.status[1] not in ("Active", "ActiveHold"):
            self._end(a, "CrossFailed", now, reason=None)  # the order was cancelled/replaced
            return
        m = b.mkt
        u_mid = _u_mid(m)
        final = now >= a.end_ns
        if math.isfinite(u_mid) and not (a.u_lo <= u_mid <= a.u_hi):
            self._end(a, "CrossFailed", now, reason="UPrcRange")
            return
        a.counter += 1
        a.trial_times.append(now)
        if a.kind == "Block" and a.counter > 1:
            step_up([s for s in a.sims if s.arrive_ns <= now], a.rng, self.config.sim_step_prob,
                    a.tick, a.init_side)
        limit = float(b.value("orderPrcLimit"))  # a SpdrParentLimit applies from this trial
        a.qty = min(a.qty, b.workable())
        prices, sizes, ids, arrival, who = self._book(a, now, u_mid, -a.init_side)
        sol = solve(a.init_side, a.qty, limit, a.cond, prices, sizes, ids, a.tick,
                    self._cap(a, m))
        other = NO_MATCH
        if a.visibility == "Neither":  # the side is hidden: publish both sides' books
            op, osz, oid, _, _ = self._book(a, now, u_mid, a.init_side)
            other = solve(-a.init_side, a.qty, math.inf if a.init_side < 0 else 0.0, "UpToQty",
                          op, osz, oid, a.tick)
        a.bid, a.ask = (sol, other) if a.init_side < 0 else (other, sol)
        for r in a.responses.values():
            if r.live:
                r.last_trial_px = float(effective_prices(
                    np.array([r.price]), np.array([r.ref_u]), np.array([r.de]),
                    np.array([r.ga]), np.array([r.adjusted]), u_mid)[0])
        cross = sol.matched and (final or a.kind == "Flash" or a.allow_immediate)
        risk_why = ""
        if cross:  # the initiator's group risk (§1.9) gates the cross, as it gates children
            room, why, detail = self.manager.auction_risk(b)
            if 0 <= room < sol.match_size:  # a block waits (the group may change); else fails
                cross = False
                risk_why = detail if why in ("OptDisabled", "NullCounter") else (
                    f"risk: {detail}; the cross of {sol.match_size} would breach it")
        if a.kind == "Flash" or final or cross:
            if cross:
                self._cross(a, b, sol, prices, sizes, arrival, who, now)
            else:
                self._end(a, "CrossFailed", now, reason="CrossFailed", comment=risk_why)
            return
        period = int(self.config.block_trial_s * 1e9)
        nxt = a.next_ns + period  # on the auction's own 1 s grid (a late timer does not drift)
        a.next_ns = min(nxt if nxt > now else now + period, a.end_ns)
        self._publish_state(a, b, "Active", now)

    def _cap(self, a: Auction, m: Mapping[str, float]) -> float:
        pennies = NBBO_CAP_PENNIES.get(a.cap)
        if pennies is None:
            return math.inf if a.init_side < 0 else -math.inf
        if a.init_side < 0:  # responders buy: not above the ask (+ pennies)
            ask = m.get("ask", math.nan)
            return ask + pennies if math.isfinite(ask) and ask > 0 else math.inf
        bid = m.get("bid", math.nan)
        return bid - pennies if math.isfinite(bid) and bid > 0 else -math.inf

    def _book(self, a: Auction, now: int, u_mid: float, resp_side: int
              ) -> tuple[Any, Any, Any, Any, list[Any]]:
        """Live responses on ``resp_side`` at this trial: effective prices, sizes, responder
        ids, arrival order and the objects (Response or SimResponder)."""
        who: list[Any] = []
        px, sz, ref, de, ga, adj, arr = [], [], [], [], [], [], []
        disabled = self.manager.disabled_groups
        for r in a.responses.values():
            if not r.live or r.side != resp_side or r.arrive_ns > now:
                continue
            if (r.min_u > 0 and u_mid < r.min_u) or (r.max_u > 0 and u_mid > r.max_u):
                continue  # outside the responder's own underlier range
            if disabled and (r.accnt, r.firm, int(r.rec.get("riskGroupId") or 0)) in disabled:
                continue  # its risk group was disabled (SpdrRiskGroupControl) after it came in
            who.append(r)
            px.append(r.price)
            sz.append(r.size)
            ref.append(r.ref_u)
            de.append(r.de)
            ga.append(r.ga)
            adj.append(r.adjusted)
            arr.append(r.arrive_ns)
        if resp_side == -a.init_side:
            for s in a.sims:
                if s.arrive_ns <= now:
                    who.append(s)
                    px.append(s.price)
                    sz.append(s.size)
                    ref.append(0.0)
                    de.append(0.0)
                    ga.append(0.0)
                    adj.append(False)
                    arr.append(s.arrive_ns)
        prices = effective_prices(np.array(px, np.float64), np.array(ref, np.float64),
                                  np.array(de, np.float64), np.array(ga, np.float64),
                                  np.array(adj, np.bool_), u_mid)
        ids = np.arange(len(who), dtype=np.int64)
        sizes = np.array(sz, np.int64)
        if a.resp_share < 1.0:  # AtMost25/50: each response counts for at most that share
            sizes = np.minimum(sizes, max(1, int(a.resp_share * a.qty)))
        return prices, sizes, ids, np.array(arr, np.int64), who

    def _cross(self, a: Auction, b: Broker, sol: Solution, prices: Any, sizes: Any,
               arrival: Any, who: list[Any], now: int) -> None:
        s = -float(a.init_side)
        x = s * prices
        mx = s * sol.match_price
        sel = np.nonzero(x >= mx - 1e-9)[0]
        alloc = self.allocator(x[sel], sizes[sel], arrival[sel], sol.match_size)
        total = int(alloc.sum())
        if a.cond == "AllOrNone" and total < a.qty:
            self._end(a, "CrossFailed", now, reason="CrossFailed")
            return
        a.match_price = sol.match_price
        if a.kind == "Block":  # a flash auction publishes one AuctionState, at its end
            self._publish_state(a, b, "FinalTrial", now)
            self._publish_state(a, b, "Crossing", now)
        a.status = "Crossing"
        for i, q in zip(sel.tolist(), alloc.tolist(), strict=True):
            if q <= 0:
                continue
            w = who[i]
            a.fills.append((w.accnt, w.firm, int(q), sol.match_price))
            if isinstance(w, Response):
                w.filled += int(q)
                w.fill_price = sol.match_price
        a.init_fill = total
        if total > 0:
            self.manager.auction_cross(a.key, a.notice, total, sol.match_price, now)
            for i, q in zip(sel.tolist(), alloc.tolist(), strict=True):
                w = who[i]
                if q > 0 and isinstance(w, Response):  # simulated responders are the venue's
                    self.manager.responder_fill(a.key, a.notice, w.rec, w.side, int(q),
                                                sol.match_price, w.base_parent, now)
        self._end(a, "Crossed" if total > 0 else "CrossFailed", now,
                  reason=None if total > 0 else "CrossFailed", crossed=total)

    def _end(self, a: Auction, outcome: str, now: int, *, reason: str | None,
             crossed: int = 0, comment: str = "") -> None:
        """Finish: final AuctionState(s), every live response answered, the initiator's
        broker told (its residual closes or continues).  A flash auction publishes its one
        AuctionState and retires; a block auction publishes Crossed | CrossFailed now and
        Closed one trial period later (so a conflating subscriber sees the outcome)."""
        b = self.manager.brokers.get(a.key)
        if a.kind == "Flash":
            self._publish_state(a, b, outcome, now)  # one AuctionState, at the end (§3.3)
        else:
            if outcome == "CrossFailed" and a.status == "Active":
                self._publish_state(a, b, "FinalTrial", now)
            self._publish_state(a, b, outcome, now)
            a.next_ns = now + int(self.config.block_trial_s * 1e9)
        a.status = outcome
        for r in a.responses.values():
            if not r.live:
                continue
            r.live = False
            r.status = "Closed"
            if r.filled >= r.size:
                r.result = "FullSize"
            elif r.filled > 0:
                r.result = "AllocSize"
            elif crossed and (-a.init_side * r.last_trial_px < -a.init_side * a.match_price):
                r.result = "PriceMiss"
            else:
                r.result = "DidNotTrade"
            self.publish(self.mt[NX], self._exec_report(a, r, now))
        if b is not None:
            self.publish(self.mt[AN], self._notice(a, b, "End", now))
        if a.kind == "Flash":
            self._retire(a)
        self.manager.auction_end(a.key, a.notice, reason, now, comment)

    def _retire(self, a: Auction) -> None:
        del self.live[a.notice]
        self.finished[a.notice] = a
        while len(self.finished) > self.config.keep_finished:
            self.finished.popitem(last=False)

    # ================================================================= records
    def _cust(self, a: Auction, limit: float) -> dict[str, Any]:
        side = "Buy" if a.init_side > 0 else "Sell"
        if a.visibility == "Neither":
            return {"custSide": _enum(AS, "custSide", "None"), "custPrc": 0.0,
                    "hasCustPrc": _enum(AS, "hasCustPrc", "No")}
        if a.visibility == "Side":
            return {"custSide": _enum(AS, "custSide", side), "custPrc": 0.0,
                    "hasCustPrc": _enum(AS, "hasCustPrc", "No")}
        return {"custSide": _enum(AS, "custSide", side), "custPrc": limit,
                "hasCustPrc": _enum(AS, "hasCustPrc", "Yes")}

    def _publish_state(self, a: Auction, b: Broker | None, status: str, now: int) -> None:
        m = b.mkt if b is not None else {}
        limit = float(b.value("orderPrcLimit")) if b is not None else 0.0
        rec = {"noticeNumber": a.notice, "ticker": TickerKey(a.okey.at, a.okey.ts, a.okey.tk),
               "tradeDate": now // _DAY_NS,
               "isTestAuction": _enum(AS, "isTestAuction", "No"),
               "auctionType": _enum(AS, "auctionType", a.kind),
               "atsAuctionCounter": a.counter,
               "atsAuctionStatus": _enum(AS, "atsAuctionStatus", status),
               "custQty": a.qty, **self._cust(a, limit),
               "uBid": _f(m.get("u_bid")), "uAsk": _f(m.get("u_ask")),
               "nbboBid": _f(m.get("bid")), "nbboAsk": _f(m.get("ask")),
               "nbboBidSz": int(_f(m.get("bid_size"))), "nbboAskSz": int(_f(m.get("ask_size"))),
               "surfacePrc": _f(m.get("s_prc")), "surfaceVol": _f(m.get("s_vol")),
               "timestamp": now, "BidSolution": _sol(a.bid), "AskSolution": _sol(a.ask)}
        a.published += 1
        self.publish(self.mt[AS], rec)

    def _notice(self, a: Auction, b: Broker, event: str, now: int) -> dict[str, Any]:
        m, p = b.mkt, b.parent
        cust = self._cust(a, float(b.value("orderPrcLimit")))
        pv = float(m.get("point_value", 100.0) or 100.0)
        return {"noticeNumber": a.notice, "ticker": TickerKey(a.okey.at, a.okey.ts, a.okey.tk),
                "tradeDate": now // _DAY_NS, "isTestAuction": _enum(AN, "isTestAuction", "No"),
                "shortCode": f"{a.kind[0]}{a.notice & 0xFFFFF:05X}" if a.kind == "Block" else "",
                "auctionType": _enum(AN, "auctionType", a.kind),
                "auctionEvent": _enum(AN, "auctionEvent", event),
                "auctionSource": _enum(AN, "auctionSource", "SRC"),
                "custSide": cust["custSide"], "custQty": a.qty, "custPrc": cust["custPrc"],
                "hasCustPrc": cust["hasCustPrc"],
                "custNbboCap": _enum(AN, "custNbboCap", a.cap if a.cap != "None" else "None"),
                "custClientFirm": p["clientFirm"] if _name(PO, "includeSRNetwork",
                                                           p["includeSRNetwork"]) == "Disclose"
                else "",
                "custQtyCond": _enum(AN, "custQtyCond", a.cond),
                "auctionDuration": int((a.end_ns - a.start_ns) // 1_000_000),
                "limitType": _enum(AN, "limitType", "Prc"),
                "uBid": _f(m.get("u_bid")), "uAsk": _f(m.get("u_ask")),
                "refUPrc": _f(m.get("u_prc")),
                "netDe": _f(m.get("de")) * a.qty * pv * a.init_side,
                "netGa": _f(m.get("ga")) * a.qty * pv * a.init_side,
                "netVe": _f(m.get("ve")) * a.qty * pv * a.init_side,
                "pkgSurfPrc": _f(m.get("s_prc")),
                "pkgBidPrc": _f(m.get("bid")), "pkgAskPrc": _f(m.get("ask")),
                "pointValue": pv, "timestamp": now,
                "includeSRNetwork": p["includeSRNetwork"]}

    def _exec_report(self, a: Auction, r: Response, now: int) -> dict[str, Any]:
        return {"noticeNumber": a.notice, "baseParentNumber": r.base_parent,
                "ticker": TickerKey(a.okey.at, a.okey.ts, a.okey.tk),
                "tradeDate": now // _DAY_NS, "accnt": r.accnt, "clientFirm": r.firm,
                "noticeDttm": a.start_ns, "responseId": r.response_id,
                "respOrigin": _enum(NX, "respOrigin", "MLinkResponse"),
                "auctionType": _enum(NX, "auctionType", a.kind),
                "auctionSource": _enum(NX, "auctionSource", "SRC"),
                "respDttm": r.arrive_ns,
                "respSide": _enum(NX, "respSide", "Buy" if r.side > 0 else "Sell"),
                "respSize": r.size, "respActiveSize": r.size if r.live else 0,
                "respPrice": r.price, "refUPrc": r.ref_u, "refDe": r.de, "refGa": r.ga,
                "roundRule": _enum(NX, "roundRule", "Exact"),
                "riskGroupId": int(r.rec.get("riskGroupId") or 0),
                "strategy": str(r.rec.get("strategy") or ""),
                "userData1": str(r.rec.get("userData1") or ""),
                "respStatus": _enum(NX, "respStatus", r.status),
                "lastTrialPrc": r.last_trial_px,
                "leavesQty": max(0, r.size - r.filled) if r.live else 0,
                "cumFillQty": r.filled, "avgFillPrice": r.fill_price if r.filled else 0.0,
                "addLatency": (r.first_ns - a.start_ns) / 1e9,
                "responseResult": _enum(NX, "responseResult", r.result),
                "responseTime": int(min((r.first_ns - a.start_ns) // 1_000_000, 32767)),
                "prtPrice": r.fill_price if r.filled else 0.0, "prtSize": r.filled,
                "prtTime": now if r.filled else 0, "timestamp": now}


# ===================================================================== helpers
@functools.cache
def _names(msg: str, fld: str) -> tuple[dict[str, int], tuple[str, ...]]:
    f = registry()[msg].field(fld)
    assert f is not None and f.enum is not None, (msg, fld)
    return {n: i for i, n in enumerate(f.enum.names)}, f.enum.names


def _name(msg: str, fld: str, v: int) -> str:
    names = _names(msg, fld)[1]
    return names[int(v)] if 0 <= int(v) < len(names) else str(v)


def _enum(msg: str, fld: str, name: str) -> int:
    return _names(msg, fld)[0][name]


def _f(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return 0.0
    return v if math.isfinite(v) else 0.0


def _u_mid(m: Mapping[str, float]) -> float:
    ub, ua = m.get("u_bid", math.nan), m.get("u_ask", math.nan)
    if math.isfinite(ub) and math.isfinite(ua) and ub > 0 and ua > 0:
        return 0.5 * (ub + ua)
    up = m.get("u_prc", math.nan)
    return up if math.isfinite(up) and up > 0 else math.nan


def _sol(s: Solution) -> tuple[dict[str, Any], ...]:
    if not s.matched:
        return ()
    return ({"numResponders": min(s.num_responders, 255), "matchPrice": s.match_price,
             "matchSize": s.match_size},)
