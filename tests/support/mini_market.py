"""A tiny in-process platform (bus, store, clock) with a hand-made market, for engine tests."""

from __future__ import annotations

from typing import Any

from openmlink.bus import Event, InProcessBus
from openmlink.clock import SimClock
from openmlink.schema import registry
from openmlink.schema._codec import decode_record
from openmlink.schema._values import datetime_from_text
from openmlink.store import Store

NOW = "2025-01-02 15:00:00.000000"
EXPIRY = "2025-03-21"
EXPIRATION = "2025-03-21 21:00:00.000000"


class MiniMarket:
    def __init__(self) -> None:
        self.reg = registry()
        self.bus = InProcessBus()
        self.store = Store(self.reg)
        self.store.attach(self.bus)
        self.clock = SimClock(datetime_from_text(NOW))

    def put(self, mtype: str, message: dict[str, Any], merge: bool = False) -> dict[str, Any]:
        mt = self.reg[mtype]
        rec = decode_record(mt, message)
        self.bus.publish(Event(mt, "upsert", rec, self.clock.time_ns(), merge))
        return rec

    def get(self, mtype: str, rec: dict[str, Any]) -> dict[str, Any] | None:
        mt = self.reg[mtype]
        return self.store.table(mt).get(tuple(rec[f.name] for f in mt.pkey_fields))

    def stock(self, tk: str, bid: float, ask: float) -> None:
        self.put("StockBookQuote", {"pkey": {"ticker": f"{tk}-NMS-EQT"}, "bidPrice1": bid,
                                    "askPrice1": ask})

    def root(self, tk: str, exercise: str = "American", point_value: float = 100.0,
             symbol_type: str = "Equity") -> None:
        self.put("RootDefinition", {"pkey": {"root": f"{tk}-NMS-EQT"}, "ticker": f"{tk}-NMS-EQT",
                                    "exerciseType": exercise, "pointValue": point_value,
                                    "symbolRatio": 1.0, "pricingModel": "Equity"})
        self.put("TickerDefinition", {"pkey": {"ticker": f"{tk}-NMS-EQT"},
                                      "symbolType": symbol_type})
        self.put("OptExpiryDefinition", {"pkey": {"ekey": f"{tk}-NMS-EQT-{EXPIRY}"},
                                         "expiration": EXPIRATION})

    def option(self, tk: str, strike: float, cp: str, bid: float, ask: float) -> str:
        okey = f"{tk}-NMS-EQT-{EXPIRY}-{strike:g}-{cp[0]}"
        self.put("OptionNbboQuote", {"pkey": {"okey": okey}, "bidPrice": bid, "askPrice": ask})
        return okey
