"""Long requests and refusals over real HTTP: long ``|`` chains by GET and by form POST, the URL
and header caps, routing and upgrade failures, and the connection gate; every answer is a JSON
array ending in a ``QueryResult``."""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.parse

import numpy as np
import orjson
import pytest
import requests

from openmlink.gateway import HttpLimits
from openmlink.schema._codec import decode_record
from tests.conftest import API_KEY
from tests.support.serve import wait_for
from tests.support.wsutil import LiveServer

URL_CAP = 1 << 20


def _keys() -> list[str]:
    out = []
    for tk in ("SPY", "QQQ", "IWM", "AAPL"):
        for d in range(12):
            for k in range(250):
                for cp in "CP":
                    out.append(f"{tk}-NMS-EQT-2026-{d + 1:02d}-16-{100 + 2.5 * k:g}-{cp}")
    return out


KEYS = _keys()  # 24,000 options


@pytest.fixture(scope="module")
def server():
    s = LiveServer(limits=HttpLimits(max_url_bytes=URL_CAP, max_connections=64, idle_timeout_s=2.0))
    mt = s.platform.registry["OptionNbboQuote"]

    def load() -> None:
        t = s.platform.store.table(mt)
        for i, k in enumerate(KEYS):
            t.upsert(decode_record(mt, {"pkey": {"okey": k}, "bidPrice": float(i % 97)}))

    s.call(load)
    yield s
    s.stop()


def _qr(resp: requests.Response) -> dict:
    assert resp.headers["Content-Type"].startswith("application/json"), resp.text[:200]
    doc = orjson.loads(resp.content)
    assert isinstance(doc, list) and doc[-1]["header"]["mTyp"] == "QueryResult", doc
    return doc[-1]["message"]


def _chain(keys: list[str]) -> str:
    return " | ".join(f"okey:eq:{k}" for k in keys)


def _okeys(doc: list[dict]) -> set[str]:
    out = set()
    for m in doc[:-1]:
        o = m["message"]["pkey"]["okey"]
        out.add(f"{o['tk']}-{o['ts']}-{o['at']}-{o['dt']}-{o['xx']:g}-{o['cp'][0]}")
    return out


@pytest.mark.parametrize("n", [300, 10_000])
def test_a_long_eq_chain_by_get_and_by_form_post_returns_its_rows(server, n):
    rng = np.random.default_rng(n)
    picked = [KEYS[i] for i in rng.choice(len(KEYS), n - 10, replace=False).tolist()]
    absent = [f"SPY-NMS-EQT-2027-01-15-{i}-C" for i in range(10)]
    params = {"cmd": "getmsgs", "msgType": "OptionNbboQuote", "where": _chain(picked + absent),
              "limit": "20000", "apiKey": API_KEY}
    url = server.rest + "?" + urllib.parse.urlencode(params)
    if n == 10_000:
        assert len(url) > 256 * 1024  # longer than the minimum, within the cap
    assert len(url) < URL_CAP
    got = requests.get(url, timeout=60)
    assert got.status_code == 200
    doc = orjson.loads(got.content)
    assert doc[-1]["message"]["result"] == "Ok", doc[-1]
    assert _okeys(doc) == set(picked)
    posted = requests.post(server.rest, data=params, timeout=60)  # form-encoded body
    assert posted.status_code == 200
    pdoc = orjson.loads(posted.content)
    assert pdoc[-1]["message"]["result"] == "Ok", pdoc[-1]
    assert _okeys(pdoc) == set(picked)
    count = requests.post(server.rest, data={**params, "cmd": "getcount"}, timeout=60)
    assert orjson.loads(count.content)[0]["message"] == {"count": n - 10}


def test_getcount_with_no_match_says_count_zero(server):
    r = requests.get(server.rest, params={"cmd": "getcount", "msgType": "OptionNbboQuote",
                                          "where": "okey.tk:eq:NOPE", "apiKey": API_KEY}, timeout=10)
    doc = orjson.loads(r.content)
    assert doc[0]["header"]["mTyp"] == "MLinkCount" and doc[0]["message"] == {"count": 0}


def test_a_url_over_the_cap_gets_a_414_query_result(server):
    where = _chain(KEYS[:30_000])
    url = server.rest + "?" + urllib.parse.urlencode({"cmd": "getmsgs", "msgType": "OptionNbboQuote",
                                                      "where": where, "apiKey": API_KEY})
    assert len(url) > URL_CAP
    r = requests.get(url, timeout=60)
    assert r.status_code == 414
    qr = _qr(r)
    assert qr["result"] == "TransportError" and "max_url_bytes" in qr["detail"]
    # the server still serves
    ok = requests.get(server.rest, params={"cmd": "getcount", "msgType": "OptionNbboQuote",
                                           "apiKey": API_KEY}, timeout=10)
    assert orjson.loads(ok.content)[0]["message"] == {"count": len(KEYS)}


def test_a_header_over_the_cap_gets_a_431_query_result(server):
    r = requests.get(server.rest, params={"cmd": "getmsgtypes", "apiKey": API_KEY},
                     headers={"X-Big": "x" * 20_000}, timeout=10)
    assert r.status_code == 431
    assert "max_header_bytes" in _qr(r)["detail"]


@pytest.mark.parametrize(("method", "path", "status", "words"), [
    ("GET", "/nope", 404, "no such endpoint"),
    ("GET", "/", 404, "no such endpoint"),
    ("DELETE", "/rest/json", 405, "method not allowed"),
    ("POST", "/mlink/json", 405, "method not allowed"),
    ("GET", "/mlink/json", 400, "WebSocket"),  # a plain GET, no upgrade
])
def test_routing_and_upgrade_failures_answer_in_protocol_form(server, method, path, status, words):
    base = server.rest.rsplit("/rest/json", 1)[0]
    r = requests.request(method, base + path, timeout=10)
    assert r.status_code == status
    qr = _qr(r)
    assert qr["result"] in ("Error", "TransportError") and words in qr["detail"], qr


def test_auth_and_body_limits_answer_in_protocol_form(server):
    r = requests.get(server.rest, params={"cmd": "getmsgtypes", "apiKey": "WRONG-KEY"}, timeout=10)
    assert r.status_code == 401 and _qr(r)["result"] == "AuthError"
    big = requests.post(server.rest, params={"cmd": "postmsgs", "postAction": "I", "apiKey": API_KEY},
                        data=b"x" * (server.platform.rest.config.max_body_bytes + 10), timeout=30)
    assert big.status_code == 413 and "body" in _qr(big)["detail"]
    bad = requests.post(server.rest, data=b"cmd=getmsgs&where=%ff", timeout=10,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert "form data" in _qr(bad)["detail"]
    # JSON messages sent form-encoded (curl -d): the reply names the content type to use
    form = requests.post(server.rest, params={"cmd": "postmsgs", "postaction": "I", "apiKey": API_KEY},
                         data=b'[{"header":{"mTyp":"TickerItemDef"},"message":{}}]', timeout=10,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    qr = _qr(form)
    assert qr["result"] == "Error" and "application/json" in qr["detail"], qr


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(data)
        out = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                return out
            out += chunk


def test_bytes_that_are_not_http_get_a_400_query_result(server):
    out = _raw(server.port, b"\x00\x01garbage garbage\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400" and b"application/json" in head
    assert orjson.loads(body)[-1]["message"]["result"] == "TransportError"


def test_a_full_server_drops_its_oldest_silent_connection_and_keeps_serving():
    # a server of its own whose idle timeout cannot fire during the test: the module server's
    # 2 s one closed silent connections itself on a loaded machine, and then the gate was not
    # full when the last request came (no eviction to count)
    srv = LiveServer(limits=HttpLimits(max_connections=64, idle_timeout_s=3600.0))
    mt = srv.platform.registry["OptionNbboQuote"]
    srv.call(lambda: [srv.platform.store.table(mt).upsert(
        decode_record(mt, {"pkey": {"okey": k}, "bidPrice": 1.0})) for k in KEYS[:10]])
    gate = srv.runner.gate
    silent = [socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(80)]
    try:
        # the server accepts them at its own pace: all 80 are in once 80 - 64 were evicted
        assert wait_for(lambda: srv.call(lambda: gate.evicted) >= 16, 120), \
            srv.call(lambda: (gate.open, gate.evicted))
        assert srv.call(lambda: (gate.open, gate.evicted)) == (64, 16)
        silent[0].settimeout(10)
        assert silent[0].recv(10) == b""  # the oldest were closed to make room
        # the server is full of silent connections: each new client still gets served, and
        # makes room by closing the oldest silent one
        r = requests.get(srv.rest, params={"cmd": "getcount", "msgType": "OptionNbboQuote",
                                           "apiKey": API_KEY}, timeout=30)
        assert orjson.loads(r.content)[0]["message"] == {"count": 10}
        assert srv.call(lambda: gate.evicted) == 17
        r = requests.get(srv.rest, params={"cmd": "getmsgtypes", "apiKey": API_KEY}, timeout=30)
        assert r.status_code == 200 and _qr(r)["result"] == "Ok"
        assert srv.call(lambda: gate.evicted) == 18
        silent[17].settimeout(10)
        assert silent[17].recv(10) == b""
    finally:
        for c in silent:
            c.close()
        srv.stop()


def test_a_slowloris_connection_is_closed_after_the_idle_timeout(server):
    c = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        c.sendall(b"GET /mlink/json HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
        t0 = time.monotonic()
        for _ in range(8):  # one header line per half second, never finishing the head
            try:
                c.sendall(b"X-Slow: 1\r\n")
            except OSError:
                break
            time.sleep(0.5)
        c.settimeout(10)
        try:
            assert c.recv(100) == b""
        except ConnectionResetError:
            pass
        assert time.monotonic() - t0 < 8
    finally:
        c.close()


def test_an_internal_error_is_logged_and_answered_in_protocol_form(server, caplog):
    rest = server.platform.rest

    def boom(*a, **k):
        raise RuntimeError("injected fault")

    rest.handle = boom  # fault injection: the REST handler fails inside the server
    try:
        r = requests.get(server.rest, params={"cmd": "getmsgtypes", "apiKey": API_KEY}, timeout=10)
    finally:
        del rest.handle
    assert r.status_code == 500
    qr = _qr(r)
    assert qr["result"] == "MLinkError" and "RuntimeError" in qr["detail"]
    assert any("injected fault" in rec.getMessage() for rec in caplog.records)
    ok = requests.get(server.rest, params={"cmd": "getmsgtypes", "apiKey": API_KEY}, timeout=10)
    assert ok.status_code == 200


def _probe(server) -> int:
    r = requests.get(server.rest, params={"cmd": "getcount", "msgType": "OptionNbboQuote",
                                          "apiKey": API_KEY}, timeout=10)
    return orjson.loads(r.content)[0]["message"]["count"]


def test_a_client_sending_megabytes_of_garbage_is_refused_and_others_are_served(server):
    rng = np.random.default_rng(3)
    garbage = rng.integers(0, 256, 8 << 20, dtype=np.uint8).tobytes()
    c = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    answer = b""
    try:
        try:
            c.sendall(garbage)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed after answering the first bytes
        try:
            while chunk := c.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    finally:
        c.close()
    if answer:  # the answer may be lost to the reset; if it arrived it is a QueryResult
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.split(b" ")[1] == b"400"
        assert orjson.loads(body)[-1]["message"]["result"] == "TransportError"
    assert _probe(server) == len(KEYS)
    # a declared body over the limit is refused before it is read
    big = requests.post(server.rest, params={"cmd": "getmsgs", "apiKey": API_KEY},
                        data=b"\x00" * (20 << 20), timeout=30,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert big.status_code == 413 and _qr(big)["result"] == "Error"
    assert _probe(server) == len(KEYS)


def test_a_websocket_message_over_the_frame_limit_closes_only_that_socket(server):
    import aiohttp

    async def run() -> tuple[int | None, list[str]]:
        async with aiohttp.ClientSession() as http:
            good = await http.ws_connect(server.url, headers={"Authorization": f"Bearer {API_KEY}"})
            bad = await http.ws_connect(server.url, headers={"Authorization": f"Bearer {API_KEY}"})
            await bad.send_str("x" * (2 << 20))
            while (await bad.receive(timeout=10)).type not in (
                    aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                pass
            code = bad.close_code
            await good.send_str(orjson.dumps({"header": {"mTyp": "MLinkStream"},
                                              "message": {"msgName": "OptionNbboQuote",
                                                          "where": "okey.tk:eq:SPY & okey.xx:eq:100",
                                                          "activeLatency": 1}}).decode())
            kinds: list[str] = []
            done = False
            while not done:
                m = await good.receive(timeout=20)
                for line in m.data.splitlines() if isinstance(m.data, str) else []:
                    doc = orjson.loads(line)
                    kinds.append(doc["header"]["mTyp"])
                    done = done or doc["message"].get("state") == "Complete"
            await good.close()
            return code, kinds

    code, kinds = asyncio.run(run())
    assert code == 1009
    assert "MLinkStreamAck" in kinds and "OptionNbboQuote" in kinds


def test_the_close_for_an_oversized_message_reaches_a_client_still_sending_it(server):
    """The server rejects a message over the frame limit from its header; the client goes on
    sending the rest of it: the server must keep reading (and dropping) it rather than reset
    the connection, so that the client's writes succeed and it reads the 1009 close frame."""
    import base64
    import os
    import struct

    u = urllib.parse.urlsplit(server.url)
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                   f"Authorization: Bearer {API_KEY}\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        assert head.startswith(b"HTTP/1.1 101"), head[:80]
        size = 2 << 20
        s.sendall(struct.pack("!BBQ", 0x81, 0x80 | 127, size) + b"\0\0\0\0")  # text, masked
        chunk = b"x" * (64 << 10)
        for _ in range(size // len(chunk)):  # slowly: the server has long seen the header
            s.sendall(chunk)  # a reset would fail here (ConnectionResetError, BrokenPipeError)
            time.sleep(0.005)
        data = head.split(b"\r\n\r\n", 1)[1]
        while True:  # the server's frames (unmasked): the greeting, ..., the close frame
            while (end := _frame_end(data)) is None or len(data) < end:
                more = s.recv(65536)
                assert more, "closed without a close frame"
                data += more
            if data[0] == 0x88:
                break
            data = data[end:]
        assert data[1] < 126 and struct.unpack("!H", data[2:4])[0] == 1009


def _frame_end(data: bytes) -> int | None:
    """Where the server frame at the start of ``data`` ends; None while its header is short."""
    if len(data) < 2:
        return None
    n, at = data[1] & 0x7F, {126: 4, 127: 10}.get(data[1] & 0x7F, 2)
    if len(data) < at:
        return None
    return at + (int.from_bytes(data[2:at], "big") if at > 2 else n)
