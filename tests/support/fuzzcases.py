"""Seeded fuzz cases for the REST API and WebSocket sessions, and the checks every answer must
pass: no exception escapes, every answer is in protocol form, and a request that was refused
changes no stored data. Shared by the suite's short runs (tests/gateway/test_fuzz_seeded.py) and
the long runs of ``bench/fuzz.py`` (100,000 cases each).

Cases are drawn with ``random.Random(seed)`` (fast, reproducible by case number): valid
fragments of the protocol (field names, operators, keys, commands, message types) mixed with
mutations (truncation, junk characters, long ``|`` chains, deep parentheses, huge numbers,
wrong JSON types, invalid UTF-8).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from openmlink.bus import Event
from openmlink.clock import SimClock
from openmlink.gateway import ApiKeys, Principal
from openmlink.gateway._session import Hub, MLinkSession
from openmlink.platform import Platform, build_platform
from openmlink.schema._codec import decode_record

KEY = "FUZZ-0000-0000-0009"
FIRM_KEY = "FUZZ-FIRM-0000-0001"
QR_RESULTS = {"Ok", "Error", "AuthError", "TokenError", "MLinkError", "TransportError"}

_FIELDS = ["vol", "uPrc", "secKey", "secKey.tk", "secKey.xx", "secKey.dt", "userName", "volSrc",
           "divString", "timestamp", "span01", "okey", "okey.tk", "okey.xx", "okey.cp", "ticker",
           "ticker.tk", "bidPrice1", "askPrice", "theoModel", "accnt", "clientFirm", "pkey.okey",
           "nope", "", "a.b.c", "OKEY.TK", "pkey", "secType", "orderSide"]
_OPS = ["eq", "ne", "gt", "ge", "lt", "le", "sw", "ew", "cv", "nv", "cb", "EQ", "zz", "", "in"]
_VALUES = ["0.1", "-1", "1e309", "-0", "nan", "inf", "AAPL-NMS-EQT", "AAPL-NMS-EQT-2026-01-16",
           "AAPL-NMS-EQT-2026-01-16-100-C", "SPY-NMS-EQT-2026-01-16-100.5-P", "User", "2026-01-16",
           "2026-01-16 10:00:00", "1$2", "x$y", "$", "#", "Call", "P", "Option", "", " ", "%26",
           "9" * 40, "1-2-3-4", "ø", "\u202e", "a" * 300, "(", ")", "|", "&"]
_TYPES = ["SpanRiskCalculator", "spanriskcalculator", "OptionNbboQuote", "StockBookQuote",
          "LiveImpliedQuote", "SpdrParentOrder", "SpdrTheoExpSurface", "MsgDesc", "5060", "", "Nope",
          "AuctionState", "QueryResult", "MLinkStream"]
_CMDS = ["getmsgs", "getmsg", "getcount", "getaggregate", "getschema", "getmsgtypes", "postmsgs",
         "GETMSGS", "", "x", "getmsgs "]
_JUNK = "\x00\x01\t\n\r \"'\\/:&|()$#%+,;=?@[]{}<>~`^*!" + "éø中\u202e\ufeff"


def _pick(rng: random.Random, xs: list[Any]) -> Any:
    return xs[rng.randrange(len(xs))]


def _mutate(rng: random.Random, s: str) -> str:
    """Sometimes damage a string: cut it, insert junk, repeat it, or change its case."""
    r = rng.random()
    if r < 0.55 or not s:
        return s
    if r < 0.65:
        return s[: rng.randrange(len(s) + 1)]
    if r < 0.8:
        i = rng.randrange(len(s) + 1)
        return s[:i] + "".join(rng.choice(_JUNK) for _ in range(rng.randrange(1, 4))) + s[i:]
    if r < 0.9:
        return s.upper() if rng.random() < 0.5 else s.swapcase()
    return s * rng.randrange(2, 5)


def _cmp(rng: random.Random) -> str:
    return f"{_pick(rng, _FIELDS)}:{_pick(rng, _OPS)}:{_pick(rng, _VALUES)}"


def where_text(rng: random.Random, depth: int = 0) -> str:
    r = rng.random()
    if r < 0.3 or depth > 3:
        text = _cmp(rng)
    elif r < 0.5:
        text = f" {rng.choice(['&', '|', '%26'])} ".join(where_text(rng, depth + 1)
                                                       for _ in range(rng.randrange(2, 4)))
    elif r < 0.6:
        text = f"({where_text(rng, depth + 1)})"
    elif r < 0.7:  # a long eq chain (the set lookup)
        field_ = rng.choice(["okey", "secKey", "okey.tk", "userName", "vol", "ticker"])
        n = rng.choice([2, 5, 50, 400])
        vals = [rng.choice(_VALUES[6:12]) if field_ in ("okey", "secKey", "ticker")
                else rng.choice(_VALUES) for _ in range(n)]
        text = " | ".join(f"{field_}:eq:{v}" for v in vals)
    elif r < 0.75:
        text = "(" * rng.randrange(1, 100) + _cmp(rng) + ")" * rng.randrange(0, 100)
    elif r < 0.85:
        text = "".join(rng.choice(_JUNK + "abc:eq") for _ in range(rng.randrange(0, 40)))
    else:
        text = ""
    return _mutate(rng, text)


def _json_value(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth > 2 or r < 0.5:
        return rng.choice([None, True, False, 0, -1, 2**63 - 1, -(2**63), 1.5, 1e308, "", "x",
                           _pick(rng, _VALUES), _pick(rng, _TYPES)])
    if r < 0.75:
        return [_json_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {_pick(rng, [*_FIELDS, "header", "message", "mTyp", "pkey"]): _json_value(rng, depth + 1)
            for _ in range(rng.randrange(0, 4))}


def _post_message(rng: random.Random) -> Any:
    """A message for postmsgs / a WebSocket upload: mostly nearly valid."""
    mt = rng.choice(["SpanRiskCalculator", "SpdrTheoExpSurface", "TickerItemDef", "StockBookQuote",
                     "SpdrParentOrder", "Nope", 5060, ""])
    msg: dict[str, Any] = {}
    if mt == "SpanRiskCalculator":
        msg = {"pkey": {"secKey": _mutate(rng, f"AAPL-NMS-EQT-2026-01-16-{100 + rng.randrange(5)}-C"),
                        "secType": rng.choice(["Option", "Stock", "Nope"]),
                        "userName": _mutate(rng, f"u{rng.randrange(5)}")},
               "vol": rng.choice([0.2, -1, "x", None, 1e309])}
    elif rng.random() < 0.5:
        msg = _json_value(rng)
    return {"header": {"mTyp": mt}, "message": msg} if rng.random() < 0.9 else _json_value(rng)


def rest_case(rng: random.Random) -> tuple[str, list[tuple[str, str]], dict[str, str], bytes | None]:
    """(method, params, headers, body) of one REST request."""
    params: list[tuple[str, str]] = [("cmd", _mutate(rng, _pick(rng, _CMDS))),
                                     ("msgType", _mutate(rng, _pick(rng, _TYPES)))]
    for name, gen in (("where", lambda: where_text(rng)), ("view", lambda: _mutate(rng, "|".join(
            _pick(rng, _FIELDS) for _ in range(rng.randrange(0, 4))))),
            ("order", lambda: _mutate(rng, f"{_pick(rng, _FIELDS)}:{rng.choice(['ASC', 'DESC', 'x'])}")),
            ("limit", lambda: rng.choice(["1", "0", "-5", "10", "x", "99999999999999999999", ""])),
            ("pkey", lambda: _mutate(rng, rng.choice(["AAPL-NMS-EQT-2026-01-16-100-C|Option|u0", "a|b|c|d",
                                                      "{\"secKey\": 1}", "|", ""]))),
            ("measure", lambda: _mutate(rng, rng.choice(["vol|volSrc|secKey", "nope", "timestamp", ""]))),
            ("group", lambda: _mutate(rng, rng.choice(["userName:top:2", "vol:Q:3", "vol:RANGE:0",
                                                       "timestamp:TIMEHIST:3#2026-01-01#2026-02-01",
                                                       "secKey|volSrc|vol:RANGE:2|a|b", "x:top:99999"]))),
            ("postAction", lambda: rng.choice(["I", "U", "R", "D", "X", "", "i"])),
            ("postMerge", lambda: rng.choice(["Y", "N", "maybe"]))):
        if rng.random() < 0.35:
            params.append((name, gen()))
    if rng.random() < 0.05:
        params.append((_mutate(rng, "w"), where_text(rng)))  # an alias, maybe damaged
    r = rng.random()
    key = KEY if r < 0.85 else FIRM_KEY if r < 0.93 else rng.choice(["", "WRONG", "\x00"])
    headers: dict[str, str] = {}
    if rng.random() < 0.5:
        params.append(("apiKey", key))
    else:
        headers["Authorization"] = f"Bearer {key}"
    method = "POST" if rng.random() < 0.4 else "GET"
    body: bytes | None = b""
    if method == "POST":
        r = rng.random()
        if r < 0.5:
            msgs = [_post_message(rng) for _ in range(rng.randrange(1, 4))]
            body = orjson.dumps(msgs if rng.random() < 0.8 else msgs[0])
        elif r < 0.65:  # the parameters as a form body
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            import urllib.parse
            body = urllib.parse.urlencode(params).encode()
            if rng.random() < 0.2:
                body = body + bytes([rng.randrange(128, 256)])
            params = []
        elif r < 0.8:
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 60)))
        elif r < 0.9:
            body = None  # the HTTP layer refused an over-limit body
        else:
            body = orjson.dumps(_json_value(rng))
    return method, params, headers, body


def ws_frames(rng: random.Random) -> list[str | bytes]:
    """A few inbound WebSocket frames."""
    frames: list[str | bytes] = []
    for _ in range(rng.randrange(1, 5)):
        r = rng.random()
        if r < 0.6:
            name = rng.choice(["MLinkStream", "MLinkSubscribe", "MLinkSignalReady", "MLinkLogon",
                               "SpanRiskCalculator", "StockBookQuote", "Nope", 3380, "", None])
            msg: dict[str, Any] = {}
            if rng.random() < 0.8:
                msg["msgName"] = _mutate(rng, _pick(rng, _TYPES))
            for k, gen in (("where", lambda: where_text(rng)), ("view", lambda: _mutate(rng, "bidPrice1|x")),
                           ("activeLatency", lambda: rng.choice([0, 1, 100, -1, "soon", None, 2**70])),
                           ("unsubscribe", lambda: rng.choice(["Yes", "No", 1, None])),
                           ("sessionID", lambda: _json_value(rng)), ("highwaterTs", lambda: _json_value(rng)),
                           ("readyScan", lambda: rng.choice(["FullScan", "Incremental", "x"])),
                           ("signalID", lambda: _json_value(rng)),
                           ("doReset", lambda: rng.choice(["Yes", 3])),
                           ("stripeFilter", lambda: rng.choice(["A1", "M", "S,X", "nope", ""])),
                           ("Subscribe", lambda: [{"msgName": _pick(rng, _TYPES),
                                                   "msgPKey": rng.choice(_VALUES[6:12])}
                                                  for _ in range(rng.randrange(0, 3))]),
                           ("Unsubscribe", lambda: _json_value(rng)), ("View", lambda: _json_value(rng)),
                           ("compression", lambda: rng.choice(["FieldChangesOnly", "x"])),
                           ("apiKey", lambda: rng.choice([KEY, "WRONG", ""]))):
                if rng.random() < 0.25:
                    msg[k] = gen()
            frames.append(json.dumps({"header": {"mTyp": name}, "message": msg}, ensure_ascii=False))
        elif r < 0.75:
            frames.append(orjson.dumps(_post_message(rng)).decode())
        elif r < 0.85:
            frames.append(orjson.dumps(_json_value(rng)).decode())
        elif r < 0.95:
            frames.append(_mutate(rng, "".join(rng.choice(_JUNK + "{}[]\"header") for _ in range(30))))
        else:
            frames.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))))
    return frames


# ---------------------------------------------------------------- the system under test
@dataclass
class Findings:
    cases: int = 0
    crashes: list[str] = field(default_factory=list)
    non_protocol: list[str] = field(default_factory=list)
    data_changes: list[str] = field(default_factory=list)

    def add(self, kind: list[str], case: int, what: str) -> None:
        if len(kind) < 20:
            kind.append(f"case {case}: {what}")

    @property
    def clean(self) -> bool:
        return not (self.crashes or self.non_protocol or self.data_changes)


def fuzz_platform() -> Platform:
    keys = ApiKeys()
    keys.add(Principal(KEY))
    keys.add(Principal(FIRM_KEY, client_firm="FIRMA"))
    plat = build_platform(keys, clock=SimClock(1_770_000_000_000_000_000))
    mt = plat.registry["SpanRiskCalculator"]
    for i in range(5):
        rec = decode_record(mt, {"pkey": {"secKey": f"AAPL-NMS-EQT-2026-01-16-{100 + i}-C",
                                          "secType": "Option", "userName": f"u{i}"},
                                 "vol": 0.1 * i, "divString": "-1, 2026-02-09:0.26"})
        plat.bus.publish(Event(mt, "upsert", rec, 1))
    onq = plat.registry["OptionNbboQuote"]
    for i in range(50):
        rec = decode_record(onq, {"pkey": {"okey": f"AAPL-NMS-EQT-2026-01-16-{100 + i}-{'CP'[i % 2]}"},
                                  "bidPrice": float(i)})
        plat.bus.publish(Event(onq, "upsert", rec, 1))
    return plat


def fingerprint(plat: Platform) -> tuple[tuple[str, int, int], ...]:
    """(type, live rows, change sequence) of every stored (not computed) table."""
    out = []
    for mt in plat.registry.types:
        if plat.store.is_computed(mt):
            continue
        t = plat.store.table(mt)
        out.append((mt.name, t.count, t.seq))
    return tuple(out)


def _acked_ok(docs: list[Any]) -> bool:
    for d in docs:
        if isinstance(d, dict) and d.get("header", {}).get("mTyp") in ("PostAck", "MLinkDataAck"):
            if d.get("message", {}).get("result") == "OK":
                return True
    return False


def check_rest(plat: Platform, f: Findings, case: int, req: tuple[str, list[tuple[str, str]],
                                                                  dict[str, str], bytes | None]) -> None:
    method, params, headers, body = req
    before = fingerprint(plat)
    f.cases += 1
    try:
        status, out = plat.rest.handle(method, params, headers, body)
    except Exception as e:  # a crash: the finding
        f.add(f.crashes, case, f"{type(e).__name__}: {e} <- {method} {params!r:.300}")
        return
    try:
        doc = orjson.loads(out)
        qr = doc[-1]
        ok = (isinstance(doc, list) and qr["header"]["mTyp"] == "QueryResult"
              and qr["message"].get("result") in QR_RESULTS and status in (200, 401, 413, 414)
              and (qr["message"]["result"] == "Ok" or qr["message"].get("detail")))
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        ok = False
    if not ok:
        f.add(f.non_protocol, case, f"{status} {out[:200]!r} <- {method} {params!r:.300}")
        return
    if not _acked_ok(doc) and fingerprint(plat) != before:
        f.add(f.data_changes, case, f"stored data changed without an OK PostAck <- {params!r:.300}")


_VALID_STREAM = orjson.dumps({"header": {"mTyp": "MLinkStream"},
                              "message": {"msgName": "SpanRiskCalculator", "activeLatency": 1}}).decode()


def check_ws(plat: Platform, hub: Hub, f: Findings, case: int, frames: list[str | bytes],
             known: Callable[[str], bool]) -> None:
    from openmlink.gateway import Principal as P
    before = fingerprint(plat)
    f.cases += 1
    now = plat.clock.time_ns()
    s = MLinkSession(hub, P(KEY) if case % 7 else None, None)
    out: list[bytes] = []
    try:
        out += s.pull(now)
        for fr in frames:
            s.receive(fr, now)
            out += s.pull(now)
        s.receive(_VALID_STREAM, now)
        tail = s.pull(now)
    except Exception as e:
        f.add(f.crashes, case, f"{type(e).__name__}: {e} <- {frames!r:.300}")
        s.close()
        return
    docs: list[Any] = []
    for fr in out + tail:
        try:
            for line in bytes(fr).splitlines():
                d = orjson.loads(line)
                docs.append(d)
                if not (isinstance(d, dict) and known(d["header"]["mTyp"])):
                    f.add(f.non_protocol, case, f"{line[:200]!r} <- {frames!r:.300}")
        except (orjson.JSONDecodeError, KeyError, TypeError) as e:
            f.add(f.non_protocol, case, f"{type(e).__name__} on {bytes(fr)[:200]!r} <- {frames!r:.300}")
    if s.principal is not None and not s.closed:
        tail_docs = [orjson.loads(line) for fr in tail for line in bytes(fr).splitlines()]
        if not any(d["header"]["mTyp"] == "MLinkStreamAck" for d in tail_docs):
            f.add(f.non_protocol, case, f"session stopped serving <- {frames!r:.300}")
    s.close()
    if not _acked_ok(docs) and fingerprint(plat) != before:
        f.add(f.data_changes, case, f"stored data changed without an OK ack <- {frames!r:.300}")


def run_rest(seed: int, n: int, plat: Platform | None = None, first: int = 0) -> Findings:
    plat = plat or fuzz_platform()
    f = Findings()
    for i in range(first, first + n):
        rng = random.Random(seed * 1_000_003 + i)
        check_rest(plat, f, i, rest_case(rng))
    return f


def run_ws(seed: int, n: int, plat: Platform | None = None, first: int = 0) -> Findings:
    plat = plat or fuzz_platform()
    hub = Hub(plat.registry, plat.store, plat.keys, plat.clock, post=plat.rest.post_record,
              encoders=plat.rest.encoders)
    names = {mt.name for mt in plat.registry.types}
    f = Findings()
    for i in range(first, first + n):
        rng = random.Random(seed * 1_000_003 + i)
        check_ws(plat, hub, f, i, ws_frames(rng), names.__contains__)
    return f


# ---------------------------------------------------------------- framed JSON (/mlink/jsonf, /rest/jsonf)
_DIGIT_JUNK = b" -+x.\xff\x00:"


def jsonf_buffer(rng: random.Random, payloads: list[bytes], num_of: Callable[[bytes], int]) -> bytes:
    """``payloads`` one after the other, each after a 14-byte framed-JSON header -- most headers
    right (message number 00000 or the payload's own), some damaged: a wrong number, letter or
    line break, junk among the digits, a length a little off or the largest 6 digits allow, a
    header cut short, junk between messages, two envelopes in one payload."""
    out: list[bytes] = []
    for p in payloads:
        if rng.random() < 0.03 and len(payloads) > 1:
            p = p + b"," + payloads[0]  # two JSON documents in one framed message
        num = num_of(p) if rng.random() < 0.5 else 0
        head = b"\r\nJ%05d%06d" % (num, len(p))
        r = rng.random()
        if r < 0.7:
            pass
        elif r < 0.75:
            head = b"\r\nJ%05d%06d" % (rng.randrange(100_000), len(p))
        elif r < 0.8:
            head = b"\r\n" + rng.choice([b"P", b"j", b"X", b"\x00", b"{"]) + head[3:]
        elif r < 0.84:
            head = rng.choice([b"", b"\n", b"\r", b"\n\r", b"  "]) + head[2:]
        elif r < 0.88:
            i = rng.randrange(3, 14)
            head = head[:i] + bytes([rng.choice(_DIGIT_JUNK)]) + head[i + 1:]
        elif r < 0.93:
            n = min(max(len(p) + rng.choice([-40, -5, -1, 1, 5, 40]), 0), 999_999)
            head = b"\r\nJ%05d%06d" % (num, n)
        elif r < 0.95:
            head = b"\r\nJ%05d999999" % num
        elif r < 0.97:
            out.append(head[: rng.randrange(14)])
            break  # a header cut short ends the buffer
        else:
            p = p + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        out.append(head + p)
    return b"".join(out)


def jsonf_ws_case(rng: random.Random, num_of: Callable[[bytes], int]) -> list[str | bytes]:
    """Inbound /mlink/jsonf WebSocket frames: the messages of a ``ws_frames`` case framed,
    several per frame or one each, sometimes one buffer split across frames, or two joined, a
    frame empty; text frames where the bytes are UTF-8, binary otherwise."""
    payloads = [f.encode() if isinstance(f, str) else f for f in ws_frames(rng)]
    r = rng.random()
    if r < 0.4:
        bufs = [jsonf_buffer(rng, payloads, num_of)]
    elif r < 0.7:
        bufs = [jsonf_buffer(rng, [p], num_of) for p in payloads]
    elif r < 0.85:  # one buffer split into frames (the server does not reassemble)
        whole = jsonf_buffer(rng, payloads, num_of)
        cuts = sorted(rng.randrange(len(whole) + 1) for _ in range(rng.randrange(1, 3)))
        bufs = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)], strict=True)]
    elif r < 0.95:  # a raw unframed message (no header at all)
        bufs = [*payloads[:1], jsonf_buffer(rng, payloads[1:], num_of)]
    else:
        bufs = [b"", jsonf_buffer(rng, payloads, num_of)]
    frames: list[str | bytes] = []
    for b in bufs:
        if rng.random() < 0.3:
            try:
                frames.append(b.decode())
                continue
            except UnicodeDecodeError:
                pass
        frames.append(b)
    return frames


def ws_frame_payloads(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of the unmasked server WebSocket frames in ``data``; ValueError if
    they do not parse."""
    out, pos = [], 0
    while pos < len(data):
        if len(data) - pos < 2:
            raise ValueError(f"byte {pos}: a WebSocket frame header needs 2 bytes")
        b0, b1 = data[pos], data[pos + 1]
        n, pos = b1 & 0x7F, pos + 2
        if b1 & 0x80:
            raise ValueError("a server frame must not be masked")
        if n == 126:
            n, pos = int.from_bytes(data[pos:pos + 2], "big"), pos + 2
        elif n == 127:
            n, pos = int.from_bytes(data[pos:pos + 8], "big"), pos + 8
        if pos + n > len(data):
            raise ValueError(f"frame of {n} bytes overruns the data")
        out.append((b0, data[pos:pos + n]))
        pos += n
    return out


def jsonf_docs(plat: Platform, data: bytes) -> list[Any]:
    """The envelopes of a framed buffer, each header checked: the number is the envelope's
    message type (00000 not allowed from the server), the length the payload's; ValueError
    says what is wrong."""
    from openmlink.gateway._frames import jsonf_messages
    docs = []
    for num, payload in jsonf_messages(data):
        d = orjson.loads(payload)
        mt = plat.registry.get(d["header"]["mTyp"])
        if mt is None or mt.id != num:
            raise ValueError(f"frame header number {num:05d} is not that of {d['header']['mTyp']}")
        docs.append(d)
    return docs


def _framed_session_docs(plat: Platform, chunks: list[bytes]) -> list[Any]:
    docs: list[Any] = []
    for chunk in chunks:
        for op, payload in ws_frame_payloads(bytes(chunk)):
            if op != 0x82:
                raise ValueError(f"a /mlink/jsonf frame with opcode {op:#x} (binary is 0x82)")
            docs += jsonf_docs(plat, payload)
    return docs


_VALID_STREAM_FRAMED = b"\r\nJ00000%06d%b" % (len(_VALID_STREAM), _VALID_STREAM.encode())


def check_ws_framed(plat: Platform, hub: Hub, f: Findings, case: int, frames: list[str | bytes],
                    known: Callable[[str], bool]) -> None:
    """As ``check_ws``, on a /mlink/jsonf session: frames in through ``receive_framed``, every
    outbound WebSocket frame binary and every framed header right."""
    from openmlink.gateway import Principal as P
    from openmlink.gateway._frames import JSONF
    before = fingerprint(plat)
    f.cases += 1
    now = plat.clock.time_ns()
    s = MLinkSession(hub, P(KEY) if case % 7 else None, None, framing=JSONF)
    out: list[bytes] = []
    try:
        out += s.pull(now)
        for fr in frames:
            s.receive_framed(fr, now)
            out += s.pull(now)
        s.receive_framed(_VALID_STREAM_FRAMED, now)
        tail = s.pull(now)
    except Exception as e:
        f.add(f.crashes, case, f"{type(e).__name__}: {e} <- {frames!r:.300}")
        s.close()
        return
    try:
        docs = _framed_session_docs(plat, out + tail)
        tail_docs = _framed_session_docs(plat, tail)
    except (ValueError, orjson.JSONDecodeError, KeyError, TypeError) as e:
        f.add(f.non_protocol, case, f"{type(e).__name__}: {e} <- {frames!r:.300}")
        s.close()
        return
    for d in docs:
        if not (isinstance(d, dict) and known(d["header"]["mTyp"])):
            f.add(f.non_protocol, case, f"{d!r:.200} <- {frames!r:.300}")
    if s.principal is not None and not s.closed:
        if not any(d["header"]["mTyp"] == "MLinkStreamAck" for d in tail_docs):
            f.add(f.non_protocol, case, f"session stopped serving <- {frames!r:.300}")
    s.close()
    if not _acked_ok(docs) and fingerprint(plat) != before:
        f.add(f.data_changes, case, f"stored data changed without an OK ack <- {frames!r:.300}")


def rest_framed_case(rng: random.Random, num_of: Callable[[bytes], int]
                     ) -> tuple[str, list[tuple[str, str]], dict[str, str], bytes | None, int]:
    """A ``rest_case`` for /rest/jsonf: a JSON POST body's messages framed (``jsonf_buffer``);
    also the number of framed messages when every header is right (-1 otherwise)."""
    method, params, headers, body = rest_case(rng)
    n = -1
    if method == "POST" and body and headers.get("Content-Type") is None:
        if rng.random() < 0.5:  # mostly a post, so that the framed messages are read
            params = [("cmd", "postmsgs"), ("postAction", "I"),
                      *((k, v) for k, v in params if k not in ("cmd", "postAction"))]
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
        payloads = [orjson.dumps(m) for m in doc] if isinstance(doc, list) else [body]
        body = jsonf_buffer(rng, payloads, num_of)
        try:
            from openmlink.gateway._frames import jsonf_messages
            n = len(list(jsonf_messages(body)))
        except ValueError:
            n = -1
    return method, params, headers, body, n


def check_rest_framed(plat: Platform, f: Findings, case: int,
                      req: tuple[str, list[tuple[str, str]], dict[str, str], bytes | None, int]) -> None:
    """As ``check_rest`` on /rest/jsonf: the answer is framed envelopes ending in a QueryResult,
    each header right; a POST of N well-framed messages is answered by 0 or N PostAcks."""
    method, params, headers, body, n = req
    before = fingerprint(plat)
    f.cases += 1
    try:
        status, out = plat.rest.handle(method, params, headers, body, framed=True)
    except Exception as e:
        f.add(f.crashes, case, f"{type(e).__name__}: {e} <- {method} {params!r:.300}")
        return
    try:
        docs = jsonf_docs(plat, out)
        qr = docs[-1]
        res = qr["message"].get("result")
        ok = (qr["header"]["mTyp"] == "QueryResult" and res in QR_RESULTS
              and status in (200, 401, 413, 414) and (res == "Ok" or qr["message"].get("detail")))
    except (ValueError, orjson.JSONDecodeError, KeyError, IndexError, TypeError) as e:
        f.add(f.non_protocol, case, f"{type(e).__name__}: {e}: {status} {out[:200]!r} <- {method} "
                                    f"{params!r:.300}")
        return
    if not ok:
        f.add(f.non_protocol, case, f"{status} {out[:200]!r} <- {method} {params!r:.300}")
        return
    acks = sum(1 for d in docs if d["header"]["mTyp"] == "PostAck")
    if n >= 0 and acks not in (0, n):
        f.add(f.non_protocol, case, f"{n} framed messages answered by {acks} PostAcks <- {body!r:.300}")
    if not _acked_ok(docs) and fingerprint(plat) != before:
        f.add(f.data_changes, case, f"stored data changed without an OK PostAck <- {params!r:.300}")


def _num_of(plat: Platform) -> Callable[[bytes], int]:
    def num_of(payload: bytes) -> int:
        try:
            name = orjson.loads(payload)["header"]["mTyp"]
            mt = plat.registry.get(name) if isinstance(name, (str, int)) else None
        except (orjson.JSONDecodeError, KeyError, TypeError, IndexError):
            mt = None
        return mt.id if mt is not None else 0
    return num_of


def run_rest_framed(seed: int, n: int, plat: Platform | None = None, first: int = 0) -> Findings:
    plat = plat or fuzz_platform()
    num_of = _num_of(plat)
    f = Findings()
    for i in range(first, first + n):
        rng = random.Random(seed * 1_000_003 + i)
        check_rest_framed(plat, f, i, rest_framed_case(rng, num_of))
    return f


def run_ws_framed(seed: int, n: int, plat: Platform | None = None, first: int = 0) -> Findings:
    plat = plat or fuzz_platform()
    hub = Hub(plat.registry, plat.store, plat.keys, plat.clock, post=plat.rest.post_record,
              encoders=plat.rest.encoders)
    names = {mt.name for mt in plat.registry.types}
    num_of = _num_of(plat)
    f = Findings()
    for i in range(first, first + n):
        rng = random.Random(seed * 1_000_003 + i)
        check_ws_framed(plat, hub, f, i, jsonf_ws_case(rng, num_of), names.__contains__)
    return f
