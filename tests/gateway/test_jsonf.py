"""Framed JSON (spec 1.3) through a real socket: /mlink/jsonf read the way MLink's own framed
clients read it (split the frame's bytes on \\r\\n, parse what follows the 12 header
characters), several messages per binary frame, bad headers answered with MLinkDataAck
FrameError without disturbing the session, a slow framed reader conflated, /rest/jsonf."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import requests
import websockets

from openmlink.bus import ColumnBatch
from openmlink.schema._keys import key_member_names
from tests.conftest import API_KEY
from tests.support.wsutil import LiveServer, env, quote

HDR = {"Authorization": f"Bearer {API_KEY}"}


def framed(text: str) -> str:
    """What the vendor's sample clients send: '\\r\\nJ' + '%011d' % len + the JSON."""
    return "".join(["\r\nJ", "%011d" % len(text), text])  # noqa: UP031 - as the samples write it


def split_frame(buffer: bytes) -> list[tuple[bytes, dict]]:
    """The vendor's sample client's reading, keeping each header for the checks."""
    parts = list(filter(None, buffer.split(b"\r\n")))
    return [(p[:12], json.loads(p[12:])) for p in parts]


def jsonf_url(srv: LiveServer) -> str:
    return srv.url.replace("/mlink/json", "/mlink/jsonf")


async def _recv_until(ws, pred, timeout: float = 10) -> list[tuple[bytes, dict]]:  # type: ignore[no-untyped-def]
    got: list[tuple[bytes, dict]] = []
    while True:
        buf = await asyncio.wait_for(ws.recv(), timeout)
        assert isinstance(buf, bytes), "framed JSON is sent in binary frames"
        got.extend(split_frame(buf))
        if any(pred(m) for _, m in got):
            return got


def _publish_quotes(srv: LiveServer, n: int, price: float, prefix: str = "J") -> None:
    mt = srv.platform.registry["StockBookQuote"]
    data = {
        "ticker.at": np.full(n, key_member_names("at").index("EQT"), np.int16),
        "ticker.ts": np.full(n, key_member_names("ts").index("NMS"), np.int16),
        "ticker.tk": np.array([f"{prefix}{i:04d}" for i in range(n)], dtype=object),
        "bidPrice1": np.full(n, price),
        "askPrice1": np.full(n, price + 0.5),
    }
    srv.call(lambda: srv.platform.bus.publish(ColumnBatch(mt, data, srv.platform.clock.time_ns())))


def test_jsonf_stream_headers_carry_number_and_length_and_share_frames():
    srv = LiveServer()
    reg = srv.platform.registry
    try:
        _publish_quotes(srv, 300, 10.25)

        async def go() -> None:
            async with websockets.connect(jsonf_url(srv), additional_headers=HDR, ping_timeout=None,
                                          max_size=None) as ws:
                first = split_frame(await ws.recv())
                assert first[0][1]["header"]["mTyp"] == "MLinkAdmin"
                await ws.send(framed(env("MLinkStream", msgName="StockBookQuote", activeLatency=1,
                                         where="ticker.tk:sw:J", view="bidPrice1|askPrice1")))
                got = await _recv_until(ws, lambda m: m["message"].get("state") == "Complete")
                frames_with_several = 0
                # the same bytes again, to check the headers against the payload bytes
                quotes = [m for _, m in got if m["header"]["mTyp"] == "StockBookQuote"]
                assert len(quotes) == 300
                assert {q["message"]["bidPrice1"] for q in quotes} == {10.25}
                for head, m in got:
                    mt = reg[m["header"]["mTyp"]]
                    assert head[:1] == b"J"
                    assert int(head[1:6]) == mt.id  # the real message number, not 00000
                # lengths: re-read one frame by the header's length, not by splitting
                _publish_quotes(srv, 300, 11.5)
                n_quotes = 0
                while n_quotes < 300:
                    buf = await asyncio.wait_for(ws.recv(), 10)
                    pos, in_frame = 0, 0
                    while pos < len(buf):
                        assert buf[pos:pos + 3] == b"\r\nJ"
                        num, size = int(buf[pos + 3:pos + 8]), int(buf[pos + 8:pos + 14])
                        m = json.loads(buf[pos + 14:pos + 14 + size])
                        assert reg[m["header"]["mTyp"]].id == num
                        pos += 14 + size
                        in_frame += 1
                        if m["header"]["mTyp"] == "StockBookQuote":
                            assert m["message"]["bidPrice1"] == 11.5
                            n_quotes += 1
                    assert pos == len(buf)  # a frame ends on a message boundary
                    frames_with_several += in_frame > 1
                assert frames_with_several >= 1
        asyncio.run(go())
    finally:
        srv.stop()


def test_jsonf_bad_headers_get_a_frame_error_and_the_session_goes_on():
    srv = LiveServer()
    try:
        srv.publish("StockBookQuote", quote("BADH", 5.0, 5.5))
        good = env("MLinkStream", msgName="StockBookQuote", activeLatency=1, where="ticker.tk:eq:BADH")

        async def go() -> None:
            async with websockets.connect(jsonf_url(srv), additional_headers=HDR, ping_timeout=None,
                                          max_size=None) as ws:
                await ws.recv()
                bad = [
                    ("no header", good, "starts with \\r\\n"),
                    ("letter", "\r\nX" + "%011d" % len(good) + good, "protocol letter"),  # noqa: UP031
                    ("protobuf", "\r\nP" + "%011d" % len(good) + good, "protobuf"),  # noqa: UP031
                    ("digits", "\r\nJ00000abc123" + good, "11 digits"),
                    ("too long", "\r\nJ" + "%011d" % (len(good) + 50) + good, "payload bytes"),  # noqa: UP031
                    ("short", "\r\nJ0000", "bytes left"),
                    ("number", "\r\nJ" + "03445" + "%06d" % len(good) + good, "is not MLinkStream"),  # noqa: UP031
                ]
                for name, text, why in bad:
                    await ws.send(text)
                    got = await _recv_until(ws, lambda m: m["header"]["mTyp"] == "MLinkDataAck")
                    ack = next(m for _, m in got if m["header"]["mTyp"] == "MLinkDataAck")["message"]
                    assert ack["result"] == "FrameError", (name, ack)
                    assert why in ack["detail"], (name, ack)
                # two good messages in one frame after a bad one: both are handled
                await ws.send(framed(good) + framed(env("MLinkHeartbeat")))
                got = await _recv_until(ws, lambda m: m["header"]["mTyp"] == "StockBookQuote")
                q = next(m for _, m in got if m["header"]["mTyp"] == "StockBookQuote")["message"]
                assert q["pkey"]["ticker"]["tk"] == "BADH" and q["bidPrice1"] == 5.0
                # a good message after the bad part of a frame is dropped with the frame's rest
                await ws.send(framed(good)[:-3] + framed(good))
                got = await _recv_until(ws, lambda m: m["header"]["mTyp"] == "MLinkDataAck")
                acks = [m["message"] for _, m in got if m["header"]["mTyp"] == "MLinkDataAck"]
                assert acks[0]["result"] in ("FrameError", "JsonError")
        asyncio.run(go())
    finally:
        srv.stop()


def test_slow_jsonf_reader_is_conflated_and_gets_the_latest_values():
    srv = LiveServer()
    n_keys, rounds = 1000, 200
    try:
        _publish_quotes(srv, n_keys, 0.0, "S")

        async def go() -> None:
            async with websockets.connect(jsonf_url(srv), additional_headers=HDR, ping_timeout=None,
                                          max_queue=2, max_size=None) as slow:
                await slow.recv()
                await slow.send(framed(env("MLinkStream", msgName="StockBookQuote", activeLatency=1,
                                           where="ticker.tk:sw:S")))
                for r in range(1, rounds + 1):  # the client reads nothing meanwhile
                    _publish_quotes(srv, n_keys, float(r), "S")
                    await asyncio.sleep(0.002)
                sessions = {w.owner for ws_set in srv.hub._watchers.values() for w in ws_set}
                for s in sessions:  # server-side backlog bounded by the keys, not the updates
                    assert len(s._out) < 100
                    for st in s.streams.by_key.values():
                        assert sum(len(sc.rows) - sc.pos for sc in st.scans) <= n_keys
                latest: dict[str, float] = {}
                received = 0
                deadline = asyncio.get_running_loop().time() + 30
                while asyncio.get_running_loop().time() < deadline:
                    if len(latest) == n_keys and all(v == rounds for v in latest.values()):
                        break
                    for _, m in split_frame(await asyncio.wait_for(slow.recv(), 10)):
                        if m["header"]["mTyp"] == "StockBookQuote":
                            received += 1
                            latest[m["message"]["pkey"]["ticker"]["tk"]] = m["message"].get("bidPrice1", 0.0)
                assert len(latest) == n_keys
                assert all(v == rounds for v in latest.values())
                # conflated: what the socket buffers held, then the latest values (201k published)
                assert received < rounds * n_keys // 2
        asyncio.run(go())
    finally:
        srv.stop()


def test_rest_jsonf_get_and_post_are_framed():
    srv = LiveServer()
    url = srv.rest.replace("/rest/json", "/rest/jsonf")
    reg = srv.platform.registry
    try:
        srv.publish("StockBookQuote", quote("RJF", 7.0, 7.25))
        r = requests.get(url, params={"cmd": "getmsgs", "msgType": "StockBookQuote",
                                      "where": "ticker.tk:eq:RJF", "apiKey": API_KEY}, timeout=10)
        assert r.status_code == 200
        msgs = split_frame(r.content)
        assert [m["header"]["mTyp"] for _, m in msgs] == ["StockBookQuote", "QueryResult"]
        for head, m in msgs:
            assert int(head[1:6]) == reg[m["header"]["mTyp"]].id
        assert msgs[0][1]["message"]["bidPrice1"] == 7.0
        # postmsgs with framed messages, as a framed client writes them
        span = {"header": {"mTyp": "SpanRiskCalculator"},
                "message": {"pkey": {"secKey": "JF-NMS-EQT-2026-01-16-100-C", "secType": "Option",
                                     "userName": "jf"}, "vol": 0.3, "volSrc": "User", "uPrc": 99.0,
                            "uPrcSrc": "User"}}
        body = (framed(json.dumps(span)) * 2).encode()
        r = requests.post(url, params={"cmd": "postmsgs", "postaction": "I"}, data=body, headers=HDR,
                          timeout=10)
        acks = split_frame(r.content)
        assert [m["header"]["mTyp"] for _, m in acks] == ["PostAck", "PostAck", "QueryResult"]
        assert acks[0][1]["message"]["result"] == "OK", acks
        r = requests.post(url, params={"cmd": "postmsgs", "postaction": "I"}, data=body[:-5], headers=HDR,
                          timeout=10)
        (_, qr), = split_frame(r.content)
        assert qr["message"]["result"] == "Error" and "frame header" in qr["message"]["detail"]
    finally:
        srv.stop()
