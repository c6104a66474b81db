"""The protocol cores without sockets: a platform on a ``SimClock`` with a ``Hub`` and
``MLinkSession`` clients driven the way the server's shell drives them (``receive`` a frame,
``pull`` while ``has_work``), and REST requests through ``RestApi.handle``."""

from __future__ import annotations

from typing import Any

import orjson

from openmlink.bus import Event
from openmlink.clock import SimClock
from openmlink.engines.implied import ImpliedQuoteAdjuster
from openmlink.gateway import ApiKeys, AuthError, Principal, SessionConfig
from openmlink.gateway._session import Hub, MLinkSession
from openmlink.platform import build_platform
from openmlink.schema._codec import decode_record
from openmlink.schema._values import datetime_from_text
from tests.conftest import API_KEY

LIMITED_KEY = "LIMITED-KEY"
MS = 1_000_000


class Client:
    """One MLink session, as a socket would drive it."""

    def __init__(self, rig: SansIO, session: MLinkSession) -> None:
        self.rig = rig
        self.session = session

    def send(self, mtype: str, **message: Any) -> None:
        self.raw(orjson.dumps({"header": {"mTyp": mtype}, "message": message}))

    def raw(self, frame: str | bytes) -> None:
        self.session.receive(frame, self.rig.clock.time_ns())

    def pull(self, heartbeats: bool = False) -> list[dict[str, Any]]:
        """Every frame the session has to send now, decoded."""
        out: list[dict[str, Any]] = []
        now = self.rig.clock.time_ns()
        while self.session.has_work(now):
            frames = self.session.pull(now)
            if not frames:
                break
            out += [orjson.loads(f) for f in frames]
        return out if heartbeats else [m for m in out if m["header"]["mTyp"] != "MLinkHeartbeat"]

    def close(self) -> None:
        self.session.close()


class SansIO:
    """A platform without market sources or the implied-quote engine (the Adj table registered
    as the platform does), on a simulated clock."""

    def __init__(self, config: SessionConfig | None = None, start: str = "2025-01-02 15:00:00.000000"
                 ) -> None:
        self.keys = ApiKeys()
        self.keys.add(Principal(API_KEY))
        self.keys.add(Principal(LIMITED_KEY, tokens=frozenset({"EqtMktData"})))
        self.clock = SimClock(datetime_from_text(start))
        self.plat = build_platform(self.keys, clock=self.clock, analytics=False)
        self.reg = self.plat.registry
        self.adjuster = ImpliedQuoteAdjuster(self.plat.store, self.clock)
        self.adjuster.register()
        self.hub = Hub(self.reg, self.plat.store, self.keys, self.clock, config,
                       post=self.plat.rest.post_record)

    # ---------------------------------------------------------------- clients
    def client(self, key: str | None = API_KEY, logged_on: bool = True) -> Client:
        """A session opened with ``key`` as its bearer token (None: no credentials); unless
        ``logged_on`` is False, its MLinkAdmin greeting is read and checked."""
        principal, err = None, None
        if key is not None:
            try:
                principal = self.keys.authenticate(key, None)
            except AuthError as e:
                err = str(e)
        c = Client(self, MLinkSession(self.hub, principal, err))
        if logged_on:
            assert c.pull()[0]["message"] == {"state": "LoggedOn"}
        return c

    # ---------------------------------------------------------------- server-side records
    def put(self, mtype: str, message: dict[str, Any], merge: bool = True) -> None:
        mt = self.reg[mtype]
        self.plat.bus.publish(Event(mt, "upsert", decode_record(mt, message), self.clock.time_ns(),
                                    merge))

    def delete(self, mtype: str, message: dict[str, Any]) -> None:
        mt = self.reg[mtype]
        self.plat.bus.publish(Event(mt, "delete", decode_record(mt, message), self.clock.time_ns(),
                                    False))

    def stock(self, tk: str, bid: float, ask: float, **f: Any) -> None:
        self.put("StockBookQuote", {"pkey": {"ticker": f"{tk}-NMS-EQT"}, "bidPrice1": bid,
                                    "askPrice1": ask, **f})

    def advance(self, ms: float) -> None:
        self.clock.advance_to(self.clock.time_ns() + int(ms * MS))

    # ---------------------------------------------------------------- REST
    def rest_raw(self, method: str, params: dict[str, str], headers: dict[str, str] | None = None,
                 body: bytes | None = b"") -> tuple[int, list[dict[str, Any]]]:
        status, out = self.plat.rest.handle(method, list(params.items()), headers or {}, body)
        return status, list(orjson.loads(out))

    def get(self, **params: Any) -> list[dict[str, Any]]:
        """A REST GET with the test key (the ``tests.conftest.Server`` interface)."""
        params.setdefault("apiKey", API_KEY)
        status, reply = self.rest_raw("GET", {k: str(v) for k, v in params.items()})
        assert status == 200, reply
        return reply

    def post(self, body: object, **params: Any) -> list[dict[str, Any]]:
        params.setdefault("cmd", "postmsgs")
        status, reply = self.rest_raw("POST", {k: str(v) for k, v in params.items()},
                                      {"Authorization": f"Bearer {API_KEY}"}, orjson.dumps(body))
        assert status == 200, reply
        return reply


def kinds(msgs: list[dict[str, Any]]) -> list[str]:
    """Message types, with checkpoints shown as their state."""
    return [m["message"].get("state", "") if m["header"]["mTyp"].endswith("CheckPt")
            else m["header"]["mTyp"] for m in msgs]


def records(msgs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [m["message"] for m in msgs if m["header"]["mTyp"] == name]
