"""The WebSocket client against a real ``openmlink serve``: checkpoints and snapshots,
signal-ready batches, subscriptions, refusals, reconnect and resubscribe after a restart."""

from __future__ import annotations

import asyncio

import pytest

from openmlink.client import MLinkClient, MLinkConnectionError, MLinkError, MLinkSocket
from tests.conftest import API_KEY
from tests.support.serve import LITE, serve_on


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


@pytest.mark.parametrize("framing", ["json", "jsonf"])
def test_stream_checkpoints_and_snapshot_match_rest(lite, framing):
    async def go():
        async with MLinkSocket(lite.url, API_KEY, framing=framing) as ml:
            assert ml.url.endswith(f"/mlink/{framing}")
            sub = await ml.stream("OptionNbboQuote", where="okey.tk:eq:CAKE", view="bidPrice",
                                  active_latency=50)
            kinds = []
            recs = []
            while True:
                ev = await sub.next_event(30)
                assert ev is not None
                kinds.append(ev.state or ev.kind)
                if ev.kind == "record":
                    recs.append(ev.message)
                if ev.state == "Complete":
                    break
            return kinds, recs

    kinds, recs = run(go())
    assert kinds[:2] == ["ack", "Begin"] and kinds[-2:] == ["Active", "Complete"]
    assert set(kinds[2:-2]) == {"record"}
    rest = MLinkClient(lite.url, API_KEY).count("OptionNbboQuote", where="okey.tk:eq:CAKE")
    assert len(recs) == rest > 0
    assert {r["pkey"]["okey"]["tk"] for r in recs} == {"CAKE"}


def test_signal_ready_releases_a_full_scan_batch(lite):
    async def go():
        async with MLinkSocket(lite.url, API_KEY) as ml:
            sub = await ml.stream("StockBookQuote", active_latency=0)
            snap = await sub.snapshot()
            await ml.signal_ready("FullScan", signal_id=42)
            batch = []
            while True:
                ev = await sub.next_event(30)
                assert ev is not None
                if ev.kind == "record":
                    batch.append(ev.message)
                elif ev.kind == "checkpoint" and ev.message.get("signalID") == 42:
                    return snap, batch, ev.state

    snap, batch, state = run(go())
    tickers = sorted(r["pkey"]["ticker"]["tk"] for r in snap)
    assert tickers == ["AAPL", "CAKE", "SPX", "SPY"]
    assert sorted(r["pkey"]["ticker"]["tk"] for r in batch) == tickers
    assert state == "Complete"


def test_a_consumer_that_stops_reading_holds_a_bounded_queue_and_then_reads_fresh_records(lite):
    async def go():
        async with MLinkSocket(lite.url, API_KEY, queue_size=8) as ml:
            sub = await ml.stream("OptionNbboQuote", where="okey.tk:eq:SPY", active_latency=1)
            await asyncio.sleep(3)  # the snapshot alone is thousands of records
            held = sub._q.qsize()
            snap = await sub.snapshot()
            return held, snap

    held, snap = run(go())
    assert held == 8
    n = MLinkClient(lite.url, API_KEY).count("OptionNbboQuote", where="okey.tk:eq:SPY")
    assert len(snap) == n > 1000  # the reader waited; nothing of the snapshot was dropped


def test_subscribe_by_key_and_refusals(lite):
    async def go():
        async with MLinkSocket(lite.url, API_KEY) as ml:
            sub = await ml.subscribe([("StockBookQuote", "SPY-NMS-EQT")],
                                     views={"StockBookQuote": "bidPrice1|askPrice1"},
                                     active_latency=10)
            snap = await sub.snapshot()
            live = await anext(sub.records())
            await sub.close()
            bad = await ml.stream("StockBookQuote", where="bidPrice1:zz:1")
            with pytest.raises(MLinkError) as e:
                await bad.next_event(30)
            return snap, live, e.value

    snap, live, err = run(go())
    assert [r["pkey"]["ticker"]["tk"] for r in snap] == ["SPY"]
    assert live["pkey"]["ticker"]["tk"] == "SPY" and set(live) <= {"pkey", "bidPrice1", "askPrice1"}
    assert err.record == "MLinkStreamAck" and err.result == "Error" and "zz" in err.detail


def test_a_refused_key_fails_at_connect_with_logon_failed(lite):
    async def go():
        with pytest.raises(MLinkError) as e:
            async with MLinkSocket(lite.url, "BAD0-0000-0000-0000"):
                pass
        return e.value

    err = run(go())
    assert err.record == "MLinkAdmin" and err.result == "LogonFailed" and err.detail


def test_reconnect_and_resubscribe_after_the_server_restarts():
    first = serve_on(*LITE)
    port = first.port
    second = None

    async def go():
        nonlocal second
        async with MLinkSocket(first.url, API_KEY, max_backoff=0.5) as ml:
            sub = await ml.stream("StockBookQuote", where="ticker.tk:eq:AAPL", active_latency=20)
            before = await sub.snapshot()
            await asyncio.to_thread(first.stop)
            kinds = []
            while True:  # live records may still arrive before the drop is seen
                ev = await sub.next_event(30)
                assert ev is not None
                if ev.kind == "disconnected":
                    break
            second = await asyncio.to_thread(serve_on, *LITE, port=port)
            after = []
            while True:
                ev = await sub.next_event(60)
                assert ev is not None
                kinds.append(ev.state or ev.kind)
                if ev.kind == "record":
                    after.append(ev.message)
                if ev.state == "Complete":
                    break
            # the client resubscribes as soon as the new server listens, which can be before
            # its simulator published the first AAPL quote: then that quote comes live
            while not after:
                ev = await sub.next_event(60)
                assert ev is not None and ev.kind == "record", ev
                after.append(ev.message)
            return before, kinds, after, ml.connects

    try:
        before, kinds, after, connects = run(go())
    finally:
        first.stop()
        if second is not None:
            second.stop()
    assert [r["pkey"]["ticker"]["tk"] for r in before] == ["AAPL"]
    # the snapshot holds the AAPL quote, or nothing when it was not published yet
    assert kinds in (["reconnected", "ack", "Begin", "record", "Active", "Complete"],
                     ["reconnected", "ack", "Begin", "Active", "Complete"])
    assert [r["pkey"]["ticker"]["tk"] for r in after[:1]] == ["AAPL"]
    assert connects == 2


class SilentPeer:
    """An MLink-looking WebSocket server that logs the client on, records what it sends and
    says nothing more (no heartbeat either)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.url = ""

    async def __aenter__(self) -> SilentPeer:
        from aiohttp import web

        async def handler(request):  # type: ignore[no-untyped-def]
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.send_json({"header": {"mTyp": "MLinkAdmin"}, "message": {"state": "LoggedOn"}})
            async for m in ws:
                self.requests.append(m.json())
            return ws

        app = web.Application()
        app.router.add_get("/mlink/json", handler)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


def test_a_silent_peer_counts_as_dropped_and_the_client_reconnects():
    """Taken for gone after ``idle_timeout``: the stream sees ``disconnected``, then
    ``reconnected`` with its request sent again on the new socket."""
    async def go():
        async with SilentPeer() as peer, MLinkSocket(peer.url, API_KEY, idle_timeout=0.5) as ml:
            sub = await ml.stream("StockBookQuote")
            first = await sub.next_event(10)
            second = await sub.next_event(10)
            await asyncio.sleep(0.2)
            return first, second, ml.connects, peer.requests

    first, second, connects, requests_seen = run(go())
    assert first.kind == "disconnected" and "nothing received for 0.5 s" in first.message["detail"]
    assert second.kind == "reconnected" and connects >= 2  # (a slow machine may drop it again)
    assert [r["message"]["msgName"] for r in requests_seen][:2] == ["StockBookQuote"] * 2


def test_without_reconnect_a_drop_ends_the_streams_and_later_requests():
    async def go():
        async with SilentPeer() as peer, MLinkSocket(peer.url, API_KEY, idle_timeout=0.3,
                                                     reconnect=False) as ml:
            sub = await ml.stream("StockBookQuote")
            with pytest.raises(MLinkConnectionError, match="nothing received") as e1:
                await sub.next_event(10)
            with pytest.raises(MLinkConnectionError):
                await ml.stream("OptionNbboQuote")
            return e1.value, ml.connects

    _, connects = run(go())
    assert connects == 1
