"""Scale-out over NATS JetStream (issue 17), first milestone: a ``market`` process and two
``gateway`` processes on loopback, each a real ``openmlink serve --bus nats://...``.  A record
posted through gateway A is readable through gateway B; a stream on B sees the market's
updates; a restarted gateway has its tables back from JetStream (records and the snapshots of
the market's column data) before it answers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import API_KEY, Server, start_server, stop_server
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


#: seconds a request may wait: an engine process answers between two Loop passes; at load 20
#: a request to the implied engine process timed out at 30 s (twice in full-suite runs)
SLOW_S = 120


def _health(s: Server) -> dict:
    return requests.get(f"{s.base}/health", timeout=SLOW_S).json()


def _count(s: Server, mtype: str) -> int:
    r = requests.get(s.rest, params={"cmd": "getcount", "msgType": mtype, "apiKey": API_KEY},
                     timeout=SLOW_S)
    return int(msgs(r.json(), "MLinkCount")[0].get("count", 0))


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


def _order(ticker: str, side: str, size: int, price: float, accnt: str) -> dict:
    return {"header": {"mTyp": "SpdrParentOrder"},
            "message": {"secKey": {"at": "EQT", "ts": "NMS", "tk": ticker}, "secType": "Stock",
                        "accnt": accnt, "orderSide": side, "orderSize": size,
                        "orderLimitType": "Prc", "orderPrcLimit": price,
                        "spdrActionType": "Add", "orderActive": "Active"}}


def _fills(s: Server) -> dict[str, int]:
    """Filled quantity per parent order (parentNumber text) from SpdrParentExecution."""
    out: dict[str, int] = {}
    for e in msgs(s.get(cmd="getmsgs", msgType="SpdrParentExecution", limit=10000),
                  "SpdrParentExecution"):
        pn = str(e["parentNumber"])
        out[pn] = out.get(pn, 0) + int(e["fillQuantity"])
    return out


def _states(s: Server) -> dict[str, dict]:
    return {str(m["pkey"]["parentNumber"]) if isinstance(m.get("pkey"), dict) and
            "parentNumber" in m["pkey"] else str(m.get("parentNumber")): m
            for m in msgs(s.get(cmd="getmsgs", msgType="SpdrParentBrkrState", limit=10000),
                          "SpdrParentBrkrState")}


def test_the_trading_engine_in_its_own_process_loses_no_order_or_fill(
        nats_server: NatsServer, tmp_path: Path) -> None:
    """Orders posted at a gateway are worked by a ``--role engine trading`` process; its
    executions and states are readable at the gateway; SIGKILLed and restarted, it takes the
    trading lease again and restores from its journal in JetStream (``<P>_JRN``): it loses no
    order or fill and fills none twice."""
    procs: dict[str, Server] = {}
    trading_dir = str(tmp_path / "trading")

    def trading() -> Server:
        return start_server("--bus", nats_server.url, "--role", "engine", "trading", "--no-sql",
                            "--universe", "small", "--seed", "7", data_dir=trading_dir)
    try:
        procs["market"] = _role(nats_server.url, "market")
        procs["trading"] = trading()
        gw = procs["gw"] = _role(nats_server.url, "gateway")

        def quote() -> dict | None:
            q = msgs(gw.get(cmd="getmsgs", msgType="StockBookQuote",
                            where="ticker.tk:eq:AAPL"), "StockBookQuote")
            return q[0] if q and q[0].get("askPrice1", 0) > 0 else None
        q = wait_for(quote, timeout=30, every=0.2)
        assert q is not None
        acks = msgs(gw.post([_order("AAPL", "Buy", 100, round(q["askPrice1"] * 1.01, 2), "T1"),
                             _order("AAPL", "Buy", 200, round(q["bidPrice1"] * 0.95, 2), "T2")],
                            postaction="I"), "PostAck")
        assert [a["result"] for a in acks] == ["OK", "OK"], acks
        filled, resting = str(acks[0]["pkey"]), str(acks[1]["pkey"])
        fills = wait_for(lambda: f if (f := _fills(gw)).get(filled) == 100 else None,
                         timeout=60, every=0.2)
        assert fills == {filled: 100}, (_fills(gw), _states(gw))
        assert wait_for(lambda: resting in _states(gw), timeout=30, every=0.2)
        before = _states(gw)
        # the trading process dies without a word, and comes back on the same journal
        killed = procs.pop("trading")
        killed.proc.kill()
        killed.proc.wait(10)
        procs["trading"] = t2 = trading()
        # it holds the trading lease once the killed process's lease expired (posts meanwhile
        # are refused: no process checks them); then it works from the journal in JetStream
        assert wait_for(lambda: _health(t2).get("trading") == "holder", timeout=30, every=0.1)
        # a new marketable order is worked by the restarted process...
        acks2 = msgs(gw.post([_order("AAPL", "Buy", 100, round(q["askPrice1"] * 1.01, 2), "T3")],
                             postaction="I"), "PostAck")
        assert acks2[0]["result"] == "OK", acks2
        third = str(acks2[0]["pkey"])
        after = wait_for(lambda: f if (f := _fills(gw)).get(third) == 100 else None,
                         timeout=60, every=0.2)
        # ... and nothing before the kill was lost or filled again, here and in the process
        assert after == {filled: 100, third: 100}, (after, _states(gw))
        assert _fills(t2) == after
        now = _states(gw)
        for pn in (filled, resting):
            for f in ("cumFillQuantity", "spdrOrderStatus", "orderSize"):
                assert now[pn].get(f) == before[pn].get(f), (pn, f, now[pn])
        assert before[filled]["cumFillQuantity"] == 100 and not before[resting].get(
            "cumFillQuantity"), before
    finally:
        for p in procs.values():
            stop_server(p)


#: column types the market sends that neither a trading nor a calc engine reads
UNREAD = ("OptionPrint", "StockPrint")


def test_trading_and_calc_processes_receive_only_the_column_data_they_read(
        nats_server: NatsServer) -> None:
    """``--role engine trading`` and ``--role engine calc`` subscribe to the column types
    their engines read (``platform.column_types_read``), not the rest: the market's prints
    reach the gateway but never them, while an order posted at the gateway fills (the
    trading process read the quotes) and a SPAN record posted there comes back computed
    from the market's underlier price (the calc process read StockBookQuote)."""
    procs: dict[str, Server] = {}
    try:
        procs["market"] = _role(nats_server.url, "market")
        procs["trading"] = trading = _role(nats_server.url, "engine", "trading")
        procs["calc"] = calc = _role(nats_server.url, "engine", "calc")
        procs["gw"] = gw = _role(nats_server.url, "gateway")

        def quote() -> dict | None:
            q = msgs(gw.get(cmd="getmsgs", msgType="StockBookQuote",
                            where="ticker.tk:eq:AAPL"), "StockBookQuote")
            return q[0] if q and q[0].get("askPrice1", 0) > 0 else None
        q = wait_for(quote, timeout=30, every=0.2)
        assert q is not None
        assert wait_for(lambda: _health(trading).get("trading") == "holder", timeout=60,
                        every=0.2)
        acks = msgs(gw.post([_order("AAPL", "Buy", 100, round(q["askPrice1"] * 1.01, 2), "R1")],
                            postaction="I"), "PostAck")
        assert acks[0]["result"] == "OK", acks
        pn = str(acks[0]["pkey"])
        assert wait_for(lambda: _fills(gw).get(pn) == 100, timeout=60, every=0.2), _states(gw)
        span = _span("AAPL", "carl", 0.25)
        acks = msgs(gw.post([span], postaction="I"), "PostAck")
        assert acks[0]["result"] == "OK", acks

        def computed() -> dict | None:
            got = msgs(gw.get(cmd="getmsgs", msgType=SPAN, where="userName:eq:carl"), SPAN)
            return got[0] if got and got[0].get("uPrc", 0) > 0 else None
        # none was posted: the calc process took it from the market's StockBookQuote
        rec = wait_for(computed, timeout=60, every=0.2)
        assert rec is not None and rec["uPrc"] == pytest.approx(
            (q["bidPrice1"] + q["askPrice1"]) / 2, rel=0.2), (rec, q)
        # the prints kept coming (the gateway has them); the engine processes got none
        wait_for(lambda: all(_health(gw)["received_types"].get(t, 0) > 0 for t in UNREAD),
                 timeout=30, every=0.5)
        hg, ht, hc = _health(gw), _health(trading), _health(calc)
        for t in UNREAD:
            assert hg["received_types"].get(t, 0) > 0, (t, hg["received_types"])
            assert t not in ht["received_types"] and t not in hc["received_types"], (ht, hc)
        # ... and what they read, they got
        for h in (ht, hc):
            assert h["received_types"].get("StockBookQuote", 0) > 0, h["received_types"]
    finally:
        for p in procs.values():
            stop_server(p)
