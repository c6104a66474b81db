"""An in-process trading platform (bus, store, SimClock, order engine) with a hand-made option
market, and helpers to post orders and read what the order manager published."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openmlink.bus import ColumnBatch, Event, RecordingBus
from openmlink.clock import Clock, SimClock
from openmlink.schema import decode_record, registry
from openmlink.schema._values import datetime_from_text
from openmlink.store import Store, Table
from openmlink.trading import OrderEngine, TradingConfig
from openmlink.trading.venue import VenueConfig

NOW = "2025-06-02 15:00:00.000000"
EXPIRY = "2025-07-18"
EXPIRATION = "2025-07-18 20:00:00.000000"
ORIGIN = "TEST-KEY"
ACCNT = "T.MTL.VEN"


class TradingRig:
    """A bus, store and SimClock with an order engine attached."""

    def __init__(self, data_dir: str | Path | None = None, config: TradingConfig | None = None,
                 venue: VenueConfig | None = None, clock: Clock | None = None) -> None:
        self.reg = registry()
        self.bus = RecordingBus()
        self.store = Store(self.reg)
        self.store.attach(self.bus)
        self.clock: Clock = clock or SimClock(datetime_from_text(NOW))
        self.engine = OrderEngine(self.bus, self.store, self.reg, self.clock, data_dir=data_dir,
                                  config=config or TradingConfig(key_rate=0, accnt_rate=0),
                                  venue_config=venue)
        self.engine.attach()

    @classmethod
    def served(cls, data_dir: str | Path | None, config: TradingConfig | None = None,
               clock: Clock | None = None) -> TradingRig:
        """The rig over a platform assembled as ``openmlink serve`` assembles it
        (``platform.build_platform``: the record store and the History attached, the order
        manager with auctions, risk and the auto-hedger; no implied-quote engine or client
        calculators). Its bus is not a RecordingBus: ``messages`` and ``published`` are not
        available."""
        from openmlink.gateway import ApiKeys
        from openmlink.platform import build_platform

        self = cls.__new__(cls)
        self.clock = clock or SimClock(datetime_from_text(NOW))
        self.platform = build_platform(ApiKeys(), clock=self.clock, data_dir=data_dir,
                                       analytics=False, engines=frozenset({"trading"}),
                                       trading_config=config or TradingConfig(key_rate=0,
                                                                              accnt_rate=0))
        self.reg, self.bus, self.store = self.platform.registry, self.platform.bus, self.platform.store
        assert self.platform.orders is not None
        self.engine = self.platform.orders
        return self

    # ---------------------------------------------------------------- market
    def put(self, mtype: str, message: dict[str, Any], origin: str = "", merge: bool = False
            ) -> dict[str, Any]:
        mt = self.reg[mtype]
        rec = decode_record(mt, message)
        self.bus.publish(Event(mt, "upsert", rec, self.clock.time_ns(), merge, origin=origin))
        return rec

    def stock(self, tk: str, bid: float, ask: float) -> None:
        self.put("StockBookQuote", {"pkey": {"ticker": f"{tk}-NMS-EQT"}, "bidPrice1": bid,
                                    "askPrice1": ask, "bidSize1": 500, "askSize1": 500})

    def option(self, tk: str, strike: float, cp: str, bid: float, ask: float, bsz: int = 20,
               asz: int = 20, *, svol: float = 0.25, uprc: float = 200.0, de: float = -0.4,
               ve: float = 0.3, spx: float | None = None, surface: bool = True,
               expiry: str = EXPIRY) -> str:
        okey = f"{tk}-NMS-EQT-{expiry}-{strike:g}-{cp[0]}"
        self.put("OptionNbboQuote", {"pkey": {"okey": okey}, "bidPrice": bid, "askPrice": ask,
                                     "bidSize": bsz, "askSize": asz, "bidMask": 1 << 3,
                                     "askMask": 1 << 3})
        if surface:
            mid = 0.5 * (bid + ask) if spx is None else spx
            self.put("LiveImpliedQuote", {"pkey": {"okey": okey}, "ticker": f"{tk}-NMS-EQT",
                                          "uPrc": uprc, "years": 0.126, "rate": 0.04,
                                          "sdiv": 0.0, "sVol": svol, "sPrc": mid, "sMark": mid,
                                          "de": de, "ga": 0.02, "ve": ve, "priceType": "Equity",
                                          "oBid": bid, "oAsk": ask})
        return okey

    # ---------------------------------------------------------------- time
    def advance(self, ms: float, steps: int = 1) -> None:
        for _ in range(steps):
            self.clock.advance_to(self.clock.time_ns() + int(ms * 1e6 / steps))
            self.engine.tick()

    # ---------------------------------------------------------------- orders
    def order(self, **fields: Any) -> dict[str, Any]:
        """Post a SpdrParentOrder (defaults: buy 10 AAPL 200 put, Prc 5.00) as a client would;
        returns the stored record (with the assigned parentNumber)."""
        msg = {"secKey": {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": EXPIRY, "xx": 200,
                          "cp": "Put"},
               "secType": "Option", "accnt": ACCNT, "clientFirm": "SRCORE", "orderSide": "Buy",
               "spdrActionType": "Add", "orderSize": 10, "orderLimitType": "Prc",
               "orderPrcLimit": 5.0, "groupingCode": "0000-0000-0000-0001", "userName": "t",
               "parentShape": "Single", "spdrSource": "MLink"}
        msg.update(fields)
        mt = self.reg["SpdrParentOrder"]
        rec = decode_record(mt, msg)
        self._pn = getattr(self, "_pn", 0x1000) + 1
        rec["parentNumber"] = self._pn
        self.bus.publish(Event(mt, "upsert", rec, self.clock.time_ns(), origin=ORIGIN))
        return rec

    def limit(self, merge: bool = False, **fields: Any) -> dict[str, Any]:
        msg = {"secKey": {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": EXPIRY, "xx": 200,
                          "cp": "Put"},
               "secType": "Option", "accnt": ACCNT, "clientFirm": "SRCORE", "orderSide": "Buy",
               "groupingCode": "0000-0000-0000-0001", "spdrSource": "MLink"}
        msg.update(fields)
        return self.put("SpdrParentLimit", msg, origin=ORIGIN, merge=merge)

    # ---------------------------------------------------------------- reading
    def messages(self) -> list[tuple[Any, dict[str, Any]]]:
        """Every record the bus carried, in publication order, as (MsgType, record): column
        batches (the order manager's re-pricing fast path) expanded, row by row, into the
        records the store holds after them (see ``expand``)."""
        return expand(self.bus.published)

    def published(self, mtype: str) -> list[dict[str, Any]]:
        return [rec for mt, rec in self.messages() if mt.name == mtype]

    def state(self, pn: int) -> dict[str, Any] | None:
        t = self.store.table(self.reg["SpdrParentBrkrState"])
        for r in t.live_rows():
            rec = t.record(int(r))
            if rec["parentNumber"] == pn:
                return rec
        return None

    def name(self, mtype: str, field: str, v: int) -> str:
        f = self.reg[mtype].field(field)
        assert f is not None and f.enum is not None
        return f.enum.names[v]


def expand(published: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
    """(MsgType, record) per upsert in ``published``: an Event's record; a ColumnBatch row's
    columns merged over the previous record of its pkey (a column batch leaves the columns it
    does not carry as they are, as the store does)."""
    out: list[tuple[Any, dict[str, Any]]] = []
    last: dict[tuple[str, Any], dict[str, Any]] = {}
    for m in published:
        if isinstance(m, Event):
            if m.kind != "upsert":
                continue
            pk = tuple(m.rec.get(f.name) for f in m.mt.pkey_fields)
            rec = {**last[(m.mt.name, pk)], **m.rec} if m.merge and (m.mt.name, pk) in last \
                else m.rec
            last[(m.mt.name, pk)] = rec
            out.append((m.mt, rec))
        elif isinstance(m, ColumnBatch):
            t = Table(m.mt)
            rows = t.upsert_columns(m.data)
            given = [f for f in m.mt.fields if any(c == f.name or c.startswith(f.name + ".")
                                                    for c in m.data)]
            for r in rows.tolist():
                part = t.record(r, given)
                pk = tuple(part[f.name] for f in m.mt.pkey_fields)
                rec = {**last.get((m.mt.name, pk), {}), **part}
                last[(m.mt.name, pk)] = rec
                out.append((m.mt, rec))
    return out


# ===================================================================== invariants (§6.2)
def _n(reg: Any, mtype: str, field: str, v: int) -> str:
    f = reg[mtype].field(field)
    return f.enum.names[v]


def check_invariants(rig: TradingRig, *, quiescent: bool = False) -> None:
    """Assert trading.md §6.2 invariants 1-10 over everything the rig's bus carried, in
    publication order.  ``quiescent``: no child is live (IOC leaves settled), so group counters
    must equal the fills exactly."""
    from openmlink.trading.orders import START, check_transition

    reg = rig.reg
    BS, EX = "SpdrParentBrkrState", "SpdrParentExecution"
    last: dict[Any, tuple[tuple[str, str], int, int, int]] = {}  # key -> (status, pn, nupd, maxprog)
    closed_parents: set[int] = set()
    #: chain -> [(publication index, fillNumber, the execution's version then)]
    fills_by_chain: dict[Any, list[tuple[int, int, dict[str, Any]]]] = {}
    state_by_chain: dict[Any, tuple[dict[str, Any], int]] = {}
    versions: dict[int, int] = {}
    responder_fills: dict[int, dict[str, Any]] = {}
    parents: set[int] = set()
    for i, (mt, rec) in enumerate(rig.messages()):
        name = mt.name
        if name == "SpdrParentOrder":
            parents.add(rec["parentNumber"])
        elif name == BS:
            key = tuple(rec[f.name] for f in mt.pkey_fields)
            st = (_n(reg, BS, "spdrOrderStatus", rec["spdrOrderStatus"]),
                  _n(reg, BS, "spdrBrokerStatus", rec["spdrBrokerStatus"]))
            pn = rec["parentNumber"]
            prev = last.get(key, (START, 0, -1, 0))
            if not (prev[0] == st and prev[1] == pn):  # (4) legal transitions only
                check_transition(prev[0], prev[1], st, pn)
            assert rec["numUpdates"] > prev[2], (key, rec["numUpdates"], prev[2])  # (4)
            new_chain = prev[1] != pn and rec["baseParentNumber"] == pn
            if not new_chain:
                assert rec["maxProgress"] >= prev[3], "maxProgress went back"  # (4)
            assert pn not in closed_parents or st[0] in ("Closed", "Rejected"), \
                f"parent {pn:X} worked after it closed"  # (5)
            if st[0] in ("Closed", "Rejected"):
                closed_parents.add(pn)
            assert rec["cumFillQuantity"] <= max(rec["orderSize"], 0), "overfill"  # (1)
            act = rec["orderActiveSize"]
            cap = rec["orderSize"] if act < 0 else min(act, rec["orderSize"])
            # (1) working children (the ladder; children being pulled after the client cut
            # the active size are not in it) within W
            assert rec["csz1"] + rec["csz2"] <= max(0, cap - rec["cumFillQuantity"]), \
                (rec["csz1"], rec["csz2"], cap, rec["cumFillQuantity"])
            if rec["limitErr"] == _n_idx(reg, BS, "limitErr", "AuxLimit"):
                assert rec["leavesQuantity"] == 0, "Aux without a limit has live children"  # (10)
            if act == 0 and st[0] == "New":
                assert rec["csz1"] == 0  # (10) no working children at active size 0
            if rec["riskLimitSize"] == 0 and st[0] == "New":
                # (9) no working child at riskLimitSize 0 (an EMA-cancel breach included); held
                # while there is size to work
                assert rec["csz1"] == 0, (rec["csz1"], st)
                assert st[1] == "ActiveHold" or cap <= rec["cumFillQuantity"], (st, cap)
            last[key] = (st, pn, rec["numUpdates"], rec["maxProgress"])
            state_by_chain[(key, rec["baseParentNumber"])] = (rec, i)
        elif name == EX:
            fn = rec["fillNumber"]
            prev_v = versions.get(fn)
            # (3) a fillNumber is one execution: republished (marks, bust, correct) only with a
            # higher version
            assert prev_v is None or rec["version"] > prev_v, ("version", fn, rec["version"],
                                                               prev_v)
            versions[fn] = rec["version"]
            assert rec["leavesQty"] >= 0  # (3)
            if _n(reg, EX, "parentOrderHandling", rec["parentOrderHandling"]) == "AtsResponse":
                responder_fills[fn] = rec  # an auction responder's fill: no parent order
                continue
            key = tuple(rec[f] for f in ("accnt", "secKey", "secType", "spdrSource",
                                         "groupingCode", "orderSide", "clientFirm"))
            fills_by_chain.setdefault((key, rec["baseParentNumber"]), []).append((i, fn, rec))
            if prev_v is not None:
                continue  # a revision of a fill checked when it arrived
            assert rec["parentNumber"] in parents, "fill of an unknown parent"  # (3)
            assert rec["parentNumber"] not in closed_parents, "fill after the Closed record"  # (5)
            side = 1 if _n(reg, EX, "orderSide", rec["orderSide"]) == "Buy" else -1
            # (8) the child's price within its effective limit at send; the fill no worse
            assert side * (rec["childPrice"] - rec["childLimitPrc"]) <= 1e-9, rec
            assert side * (rec["fillPrice"] - rec["childPrice"]) <= 1e-9, rec
            if _n(reg, EX, "parentOrderHandling", rec["parentOrderHandling"]) == "PostOnly":
                assert _n(reg, EX, "childMakerTaker", rec["childMakerTaker"]) != "Taker"  # (8)
    # (2) fill conservation: each chain's last state against the chain's fills as published
    # before it (each at its latest version then; busted ones count nothing)
    bust = _n_idx(reg, EX, "execStatus", "Bust")
    latest: dict[int, dict[str, Any]] = {}
    for chain, (st, at) in state_by_chain.items():
        cur: dict[int, dict[str, Any]] = {}
        for i, fn, f in fills_by_chain.get(chain, []):
            latest[fn] = f
            if i < at:
                cur[fn] = f
        fs = [f for f in cur.values() if f["execStatus"] != bust]
        q = sum(f["fillQuantity"] for f in fs)
        assert st["cumFillQuantity"] == q, (chain, st["cumFillQuantity"], q)
        if q:
            avg = sum(f["fillQuantity"] * f["fillPrice"] for f in fs) / q
            assert abs(st["avgFillPrice"] - avg) < 1e-9, (st["avgFillPrice"], avg)
    for fs_ in fills_by_chain.values():
        for _i, fn, f in fs_:
            latest[fn] = f
    counted = [f for f in (*latest.values(), *responder_fills.values())
               if f["execStatus"] != bust]
    # (9) group counters equal the fills' contributions (once no IOC child is live)
    if quiescent:
        groups: dict[Any, float] = {}
        for f in counted:
            g = (f["accnt"], f["clientFirm"], f["riskGroupId"])
            groups[g] = groups.get(g, 0.0) + f["riskDDelta"]
        t = rig.store.table(reg["RiskGroupCounter"])
        for g, dd in groups.items():
            c = t.get(g)
            assert c is not None
            assert abs((c["ddBotIocFilled"] - c["ddSldIocFilled"]) - dd) < 1e-6 * max(1, abs(dd))
        _check_scope_counters(rig, counted)


def _check_scope_counters(rig: TradingRig, fills: list[dict[str, Any]]) -> None:
    """(9) the order manager's symbol, expiry and account counters equal the fills' $delta
    and vega."""
    from openmlink.schema import OptionKey

    risk = rig.engine.manager.risk
    want: dict[tuple[str, Any], list[float]] = {}
    for f in fills:
        k, a = f["secKey"], (f["accnt"], f["clientFirm"])
        scopes = [("sym", (*a, k.ticker)), ("exp", (*a, k.expiry)), ("acc", a)] \
            if isinstance(k, OptionKey) else [("sym", (*a, k)), ("acc", a)]
        for sc in scopes:
            w = want.setdefault(sc, [0.0, 0.0])
            w[0] += f["riskDDelta"]
            w[1] += f["riskVega"]
    for (kind, key), (dd, ve) in want.items():
        c = {"sym": risk.syms, "exp": risk.exps, "acc": risk.accs}[kind].get(key)
        assert c is not None, (kind, key)
        net = c.net()
        assert abs(net[0] - dd) < 1e-6 * max(1, abs(dd)), (kind, key, net[0], dd)
        assert abs(net[1] - ve) < 1e-6 * max(1, abs(ve)), (kind, key, net[1], ve)


def _n_idx(reg: Any, mtype: str, field: str, name: str) -> int:
    return reg[mtype].field(field).enum.names.index(name)
