"""An in-process trading platform (bus, store, SimClock, order engine) with a hand-made option
market, and helpers to post orders and read what the order manager published."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openmlink.bus import Event, RecordingBus
from openmlink.clock import SimClock
from openmlink.schema import decode_record, registry
from openmlink.schema._values import datetime_from_text
from openmlink.store import Store
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
                 venue: VenueConfig | None = None) -> None:
        self.reg = registry()
        self.bus = RecordingBus()
        self.store = Store(self.reg)
        self.store.attach(self.bus)
        self.clock = SimClock(datetime_from_text(NOW))
        self.engine = OrderEngine(self.bus, self.store, self.reg, self.clock, data_dir=data_dir,
                                  config=config or TradingConfig(key_rate=0, accnt_rate=0),
                                  venue_config=venue)
        self.engine.attach()

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
               ve: float = 0.3, spx: float | None = None, surface: bool = True) -> str:
        okey = f"{tk}-NMS-EQT-{EXPIRY}-{strike:g}-{cp[0]}"
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
    def published(self, mtype: str) -> list[dict[str, Any]]:
        return [m.rec for m in self.bus.published
                if isinstance(m, Event) and m.mt.name == mtype]

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
