"""Scale-out over NATS JetStream (issue 17), first milestone: a ``market`` process and two
``gateway`` processes on loopback, each a real ``openmlink serve --bus nats://...``.  A record
posted through gateway A is readable through gateway B; a stream on B sees the market's
updates; a restarted gateway has its tables back from JetStream (records and the snapshots of
the market's column data) before it answers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import requests

from tests.conftest import Server, start_server, stop_server
from tests.support.nats import NatsServer, nats_server, nats_server_binary
from tests.support.serve import collect, msgs, wait_for

__all__ = ["nats_server"]

pytestmark = pytest.mark.skipif(nats_server_binary() is None,
                                reason="nats-server not installed (the nats extra)")

SPAN = "SpanRiskCalculator"


def _span(tk: str, user: str, vol: float) -> dict:
    return {"header": {"mTyp": SPAN},
            "message": {"pkey": {"secKey": {"at": "EQT", "ts": "NMS", "tk": tk, "dt": "2026-01-16",
                                            "xx": 200, "cp": "Put"},
                                 "secType": "Option", "userName": user},
                        "vol": vol, "volSrc": "User"}}


def _role(url: str, *role: str) -> Server:
    return start_server("--bus", url, "--role", *role, "--no-persist", "--no-sql",
                        "--universe", "small", "--seed", "7")


@pytest.fixture
def platform(nats_server: NatsServer) -> Iterator[dict[str, Server]]:
    procs: dict[str, Server] = {}
    try:
        procs["a"] = _role(nats_server.url, "gateway")
        procs["b"] = _role(nats_server.url, "gateway")
        procs["market"] = _role(nats_server.url, "market")
        yield procs
    finally:
        for p in procs.values():
            stop_server(p)


def _vols(s: Server, user: str) -> list[float]:
    return [m["vol"] for m in msgs(s.get(cmd="getmsgs", msgType=SPAN,
                                         where=f"userName:eq:{user}"), SPAN)]


def test_two_gateways_and_a_market_form_one_platform(platform: dict[str, Server],
                                                     nats_server: NatsServer) -> None:
    a, b = platform["a"], platform["b"]
    # a record posted through A is readable through B
    acks = msgs(a.post([_span("AAPL", "alice", 0.25), _span("SPY", "alice", 0.3)],
                       postaction="I"), "PostAck")
    assert [k["result"] for k in acks] == ["OK", "OK"], acks
    assert sorted(wait_for(lambda: _vols(b, "alice") if len(_vols(b, "alice")) == 2 else None,
                           timeout=15, every=0.1) or []) == [0.25, 0.3]
    # a replace through B reaches A
    msgs(b.post([_span("AAPL", "alice", 0.4)], postaction="R"), "PostAck")
    assert wait_for(lambda: 0.4 in _vols(a, "alice"), timeout=15, every=0.1)
    # a stream on B sees the market process's quotes as they change
    got = asyncio.run(collect(b.base, {"header": {"mTyp": "MLinkStream"}, "message": {
        "queryLabel": "q", "activeLatency": 100, "msgName": "StockBookQuote"}},
        "StockBookQuote", seconds=20, recv_timeout=10))
    assert len({m["pkey"]["ticker"]["tk"] for m in got}) >= 2, got[:3]
    assert len({(m["pkey"]["ticker"]["tk"], m["bidPrice1"]) for m in got}) > len(
        {m["pkey"]["ticker"]["tk"] for m in got})  # updates, not only a snapshot
    # each process reports its role and its traffic on the bus
    hb, hm = _health(b), _health(platform["market"])
    assert hb["role"] == "gateway" and hb["connected"] and hb["received"] > 0
    assert hm["role"] == "market" and hm["sent"] > 0 and hm["snapshots"] > 0
    assert hb["dropped"] == hm["dropped"] == 0 and hb["bus"] == nats_server.url
    # a restarted gateway has the records back before it answers its first request
    stop_server(platform.pop("b"))
    platform["b"] = b2 = _role(nats_server.url, "gateway")
    assert sorted(_vols(b2, "alice")) == [0.3, 0.4]
    # ... and the market's tables too, definitions published once at its start included
    for mtype in ("TickerDefinition", "RootDefinition", "OptExpiryDefinition", "StockBookQuote",
                  "OptionNbboQuote"):
        want = _count(platform["market"], mtype)
        assert want > 0 and _count(b2, mtype) == want, mtype


def _health(s: Server) -> dict:
    return requests.get(f"{s.base}/health", timeout=10).json()


def _count(s: Server, mtype: str) -> int:
    return int(msgs(s.get(cmd="getcount", msgType=mtype), "MLinkCount")[0].get("count", 0))


def test_an_engine_process_computes_for_the_gateways(nats_server: NatsServer) -> None:
    """The implied-quote engine in its own process: it reads the market process's quotes
    from the bus and the gateway serves what it computes."""
    procs: list[Server] = []
    try:
        procs.append(_role(nats_server.url, "market"))
        eng = _role(nats_server.url, "engine", "implied", "--loop-seconds", "2")
        procs.append(eng)
        gw = _role(nats_server.url, "gateway")
        procs.append(gw)

        def same() -> int:
            n = _count(gw, "LiveImpliedQuote")
            return n if n > 0 and n == _count(eng, "LiveImpliedQuote") else 0

        n = wait_for(same, timeout=240, every=2)
        assert n > 0, (_count(gw, "LiveImpliedQuote"), _count(eng, "LiveImpliedQuote"))
        surf = msgs(gw.get(cmd="getmsgs", msgType="LiveImpliedQuote", where="sVol:gt:0",
                           limit=5), "LiveImpliedQuote")
        assert surf and all(0 < q["sVol"] < 5 for q in surf)
        # the engine process priced with the market's security master (dividends, exercise
        # styles, settlement times), rebuilt from the definition the market process shared;
        # a gateway runs no engine and builds none
        want = _health(procs[0])["securityMaster"]
        assert want and want["series"] > 0
        assert _health(eng)["securityMaster"] == want
        assert _health(gw)["securityMaster"] is None
    finally:
        for p in procs:
            stop_server(p)
