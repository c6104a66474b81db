"""An in-process trading platform with the auction engine attached (``AuctionRig``), and
helpers to post NoticeResponse records and read auction records."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openmlink.bus import Event
from openmlink.clock import Clock
from openmlink.errors import PostRejected
from openmlink.schema import decode_record
from openmlink.trading import AuctionConfig, AuctionEngine, TradingConfig

from .trading import ORIGIN, TradingRig

__all__ = ["AuctionRig"]


class AuctionRig(TradingRig):
    def __init__(self, config: AuctionConfig | None = None,
                 trading: TradingConfig | None = None, clock: Clock | None = None,
                 data_dir: str | Path | None = None,
                 replay: Sequence[tuple[str, dict[str, Any]]] = ()) -> None:
        super().__init__(data_dir=data_dir, config=trading, clock=clock)
        for name, rec in replay:  # records the record store replays at a restart
            self.bus.publish(Event(self.reg[name], "upsert", rec, self.clock.time_ns()))
        self.auctions = AuctionEngine(self.bus, self.store, self.reg, self.clock, self.engine,
                                      config or AuctionConfig())
        self.auctions.attach()

    def advance(self, ms: float, steps: int = 1) -> None:
        for _ in range(steps):
            self.clock.advance_to(self.clock.time_ns() + int(ms * 1e6 / steps))
            self.engine.tick()
            self.auctions.tick()

    def respond(self, notice: int, *, accnt: str = "R.ACCNT", firm: str = "RESPFIRM",
                rid: str = "r1", side: str = "Buy", size: int = 10, price: float = 5.0,
                delete: bool = False, **extra: Any) -> str | None:
        """Post a NoticeResponse as a client would; returns the PostAck error text (None: OK)."""
        mt = self.reg["NoticeResponse"]
        msg = {"noticeNumber": f"{notice & (2**64 - 1):016X}", "accnt": accnt,
               "clientFirm": firm, "responseId": rid, "respSide": side, "respSize": size,
               "respPrice": price, **extra}
        msg["noticeNumber"] = "-".join(msg["noticeNumber"][i:i + 4] for i in range(0, 16, 4))
        rec = decode_record(mt, msg)
        try:
            self.bus.publish(Event(mt, "delete" if delete else "upsert", rec,
                                   self.clock.time_ns(), origin=ORIGIN))
        except PostRejected as e:
            return str(e)
        return None

    def auction_states(self, notice: int | None = None) -> list[dict[str, Any]]:
        return [r for r in self.published("AuctionState")
                if notice is None or r["noticeNumber"] == notice]

    def status_names(self, notice: int) -> list[str]:
        return [self.name("AuctionState", "atsAuctionStatus", r["atsAuctionStatus"])
                for r in self.auction_states(notice)]

    def notice_of(self, pn: int) -> int:
        st = self.state(pn)
        assert st is not None
        return int(st["noticeNumber"])
