"""One MLink WebSocket session (spec section 3), sans I/O.

Text frames go in through ``receive``; frames come out through ``pull``, which the I/O shell
calls whenever the socket can take more. Nothing here imports asyncio or a server.

The session logs on, routes requests -- MLinkStream to its ``Streams`` (_streams.py),
MLinkSubscribe to its ``Subscriptions`` (_subscriptions.py), MLinkSignalReady to both, data
messages to the platform's post handler -- and orders what goes out: control replies (acks,
checkpoints) queue in a bounded outbox, sent first; while it is full the shell stops reading
the client's requests.  ``Hub`` is what all sessions share.
"""

from __future__ import annotations

import logging
from asyncio import Future
from collections import deque
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
import numpy as np
import orjson

from ..schema import MsgType, RecordError, Registry, datetime_from_text, datetime_to_text, decode_record
from ..store import Store, Table
from ._auth import ApiKeys, AuthError, Principal
from ._encode import EncoderCache
from ._frames import (
    ENVELOPE,
    JSON,
    JSONF,
    JSONF_HEADER,
    JSONF_MAX_PAYLOAD,
    FrameError,
    Watcher,
    control,
    envelope_type,
    jsonf_header,
    jsonf_messages,
    jsonf_ws_frames,
    ws_header,
)
from ._streams import Streams
from ._subscriptions import Subscriptions

log = logging.getLogger("openmlink.gateway")

__all__ = ["Hub", "MLinkSession", "SessionConfig"]

class SessionConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """WebSocket session limits (``config.validated`` checks the bounds)."""

    heartbeat_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    max_outbox: Annotated[int, msgspec.Meta(ge=1)] = 10_000  # control frames queued before reading stops
    chunk_rows: Annotated[int, msgspec.Meta(ge=1)] = 2_000  # rows encoded per stream per pull (fairness)
    max_frame_bytes: Annotated[int, msgspec.Meta(ge=1)] = 1 << 20  # no WebSocket message over 1 MiB
    max_subscriptions: Annotated[int, msgspec.Meta(ge=1)] = 100_000
    # (inferred) framed JSON: messages share a binary frame up to this many bytes
    jsonf_frame_bytes: Annotated[int, msgspec.Meta(ge=1)] = 64 * 1024


class Hub:
    """What all sessions share: tables, registry, keys, clock, encoders."""

    def __init__(self, reg: Registry, store: Store, keys: ApiKeys,
                 clock: Any, config: SessionConfig | None = None,
                 post: Callable[[dict[str, Any], Principal],
                                dict[str, Any] | Future[dict[str, Any]]] | None = None,
                 encoders: EncoderCache | None = None) -> None:
        self.reg = reg
        self.store = store
        self.keys = keys
        self.clock = clock
        self.config = config or SessionConfig()
        self.encoders = encoders or EncoderCache()
        self.post = post
        self._watchers: dict[str, set[Watcher]] = {}
        self._listening: set[str] = set()

    def table(self, mt: MsgType) -> Table:
        t = self.store.table(mt)
        if mt.name not in self._listening:
            self._listening.add(mt.name)
            t.listeners.append(self._on_change)
            t.stale_listeners.append(self._on_stale)
        return t

    def watch(self, mt: MsgType, s: Watcher, on: bool) -> None:
        w = self._watchers.setdefault(mt.name, set())
        if on:
            w.add(s)
        else:
            w.discard(s)

    def _on_change(self, table: Table, rows: np.ndarray, deleted: bool) -> None:
        for s in self._watchers.get(table.mt.name, ()):
            s.on_change()

    def _on_stale(self, table: Table) -> None:
        """An input of a computed table changed: its readers' next cycle refreshes it."""
        for s in self._watchers.get(table.mt.name, ()):
            s.on_change()


class _Framing(list[bytes]):
    """A list whose ``append`` frames into the session's sink (for ``Subscriptions.pull``)."""

    def __init__(self, put: Callable[[bytes], None]) -> None:
        super().__init__()
        self._put = put

    def append(self, env: bytes) -> None:
        self._put(env)


class MLinkSession:
    """The protocol state of one socket."""

    def __init__(self, hub: Hub, principal: Principal | None, auth_error: str | None = None,
                 framing: str = ENVELOPE) -> None:
        """``framing`` (``_frames``) decides what ``pull`` returns: ENVELOPE, one envelope per
        item (sans-I/O use); JSON or JSONF, bytes ready for the socket (WebSocket frames)."""
        if framing not in (ENVELOPE, JSON, JSONF):
            raise ValueError(f"unknown framing {framing!r}")
        self.hub = hub
        self.principal = principal
        self.framing = framing
        limit = hub.config.max_frame_bytes
        self.frame_limit = min(limit, JSONF_MAX_PAYLOAD) if framing == JSONF else limit
        self.closed = False
        self.close_reason = ""
        self._out: deque[bytes] = deque()  # control envelopes waiting for a pull
        self._sink: list[bytes] | None = None  # where framed bytes go while pulling
        self._sent = 0  # messages put in the sink
        self.notify: Callable[[], None] | None = None  # set by the shell: wake the writer
        self.streams = Streams(hub, self)
        self.subs = Subscriptions(hub, self)
        self._hb_seq = 0
        self._hb_waiting: bytes | None = None  # the heartbeat queued in the outbox, not yet pulled
        self._wake = True
        self.messages_sent = 0
        if principal is not None:
            self.queue(control("MLinkAdmin", {"state": "LoggedOn"}))
        elif auth_error:
            self.queue(control("MLinkAdmin", {"state": "LogonFailed", "detail": auth_error}))
            self.closed = True
            self.close_reason = auth_error
        else:
            self.queue(control("MLinkAdmin", {"state": "WaitingLogon",
                                              "detail": "send MLinkLogon with an apiKey"}))

    # ---------------------------------------------------------------- state for the shell
    @property
    def wants_input(self) -> bool:
        """False while the control outbox is full: the shell should stop reading."""
        return len(self._out) < self.hub.config.max_outbox

    def on_change(self) -> None:
        """A watched table changed. Only the first change since the last pull wakes the writer:
        while ``_wake`` is set the writer already sleeps until ``next_due_ns`` (the next timed
        cycle, which reads every change since the last), so waking it again per change is
        only work -- with 1,000 sessions and 10 batches a second it was 10,000 writer passes a
        second that sent nothing (found by bench/soak.py)."""
        if self._wake:
            return
        self._wake = True
        if self.notify is not None:
            self.notify()

    def has_work(self, now_ns: int) -> bool:
        return bool(self._out) or self.streams.has_work(now_ns, self._wake) \
            or self.subs.has_work(now_ns, self._wake)

    def next_due_ns(self) -> int | None:
        """When a timed send cycle is next due (None: only on new input or changes). Only
        pending changes make a cycle due: an idle stream's due time lies in the past, and
        waiting for it returned at once -- every idle session spun its writer (200 idle
        sessions cost 0.4 of a core and delayed everything else on the event loop)."""
        dues = self.streams.dues() if self._wake else []
        sub_due = self.subs.due() if self._wake or self.subs.dirty else None
        if sub_due is not None:
            dues.append(sub_due)
        return min(dues) if dues else None

    def heartbeat(self, now_ns: int) -> None:
        """Queue the next MLinkHeartbeat -- unless the last one still waits in the outbox: a
        client that stopped reading gets one heartbeat, not one every 10 s for as long as it
        stays connected (the outbox of a stalled client grew by one record every interval,
        found by bench/soak.py). ``seqNum`` counts the heartbeats queued, so it still
        increases by one."""
        if self._hb_waiting is not None:
            return
        self._hb_seq += 1
        frame = control("MLinkHeartbeat", {"seqNum": self._hb_seq, "timestamp": datetime_to_text(now_ns)})
        if self._sink is None:
            self._hb_waiting = frame
        self.queue(frame)

    def close(self) -> None:
        self.streams.close()
        self.subs.close()
        self.closed = True

    # ---------------------------------------------------------------- for the session parts
    def queue(self, frame: bytes) -> None:
        """Send the envelope ``frame``: into the pull under way, else the control outbox."""
        if self._sink is not None:
            self._put(frame)
        else:
            self._out.append(frame)

    def emit(self, units: np.ndarray, sizes: np.ndarray) -> None:
        """Stream records already framed for this session (``RowEncoder.encode_wire``), sizes
        within ``frame_limit``; only called while pulling."""
        sink = self._sink
        assert sink is not None, "emit outside pull"
        if not len(units):
            return
        self._sent += len(units)
        if self.framing == JSONF:
            sink.extend(jsonf_ws_frames(units, sizes + JSONF_HEADER, self.hub.config.jsonf_frame_bytes))
        elif self.framing == JSON:
            sink.append(b"".join(units.tolist()))
        else:
            sink.extend(units.tolist())

    def _put(self, env: bytes) -> None:
        """Frame one envelope (a control record or a subscription's record) into the sink."""
        assert self._sink is not None
        if len(env) > self.frame_limit:
            self.data_ack(0, "OtherError", f"a {len(env)}-byte record exceeds the {self.frame_limit}-byte "
                                           "frame limit; not sent")
            return
        self._sent += 1
        if self.framing == JSONF:
            mt = self.hub.reg.get(envelope_type(env))
            head = jsonf_header(mt.id if mt is not None else 0, len(env))
            self._sink.append(ws_header(len(env) + JSONF_HEADER, True) + head + env)
        elif self.framing == JSON:
            self._sink.append(ws_header(len(env), False) + env)
        else:
            self._sink.append(env)

    def rewake(self) -> None:
        self._wake = True

    # ---------------------------------------------------------------- input
    def receive(self, data: str | bytes, now_ns: int, msg_num: int = 0) -> None:
        """Handle one inbound message (a text frame, or one framed message whose header gave
        ``msg_num``: 0 means "see the JSON header", as MLink's own clients write it)."""
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            self.data_ack(0, "JsonError", f"frame is not valid JSON ({e})")
            return
        if not isinstance(doc, dict) or not isinstance(doc.get("header"), dict):
            self.data_ack(0, "JsonError", "expected {\"header\": {\"mTyp\": ...}, \"message\": {...}}")
            return
        name = doc["header"].get("mTyp")
        mt = self.hub.reg.get(name) if isinstance(name, (str, int)) else None
        if mt is None:
            self.data_ack(0, "InvldMsgType", f"header.mTyp: unknown message type {name!r}")
            return
        if msg_num and msg_num != mt.id:
            self.data_ack(mt.id, "FrameError", f"frame header: message number {msg_num:05d} is not "
                          f"{mt.name} ({mt.id:05d}) of header.mTyp")
            return
        msg = doc.get("message", {})
        if msg is None:
            msg = {}
        if not isinstance(msg, dict):
            self.data_ack(mt.id, "JsonError", "message must be an object")
            return
        sent_ts = self._sent_ts(doc["header"], now_ns)
        if mt.name == "MLinkLogon":
            self._logon(msg)
            return
        if self.principal is None:
            self.data_ack(mt.id, "AuthError", "not logged on: send MLinkLogon first")
            return
        try:
            if mt.name == "MLinkStream":
                self.streams.request(mt, msg, sent_ts, now_ns)
            elif mt.name == "MLinkSubscribe":
                self.subs.request(mt, msg, now_ns)
            elif mt.name == "MLinkSignalReady":
                self._signal(mt, msg)
            elif mt.name in ("MLinkHeartbeat", "MLinkTheoModel"):
                pass
            else:
                self._data_message(doc, mt, sent_ts)
        except RecordError as e:
            self.data_ack(mt.id, "OtherError", str(e))

    def receive_framed(self, data: str | bytes, now_ns: int) -> None:
        """One inbound /mlink/jsonf WebSocket frame: each framed message to ``receive``; a
        header that does not parse is an MLinkDataAck FrameError, and the rest of the frame is
        dropped (no resynchronising inside a frame: a JSON payload may itself hold \\r\\n)."""
        raw = data.encode() if isinstance(data, str) else data
        try:
            for num, payload in jsonf_messages(raw):
                self.receive(payload, now_ns, msg_num=num)
        except FrameError as e:
            self.data_ack(0, "FrameError", f"frame header: {e}")

    @staticmethod
    def _sent_ts(header: dict[str, Any], now_ns: int) -> int:
        for k in ("sTim", "encT"):
            v = header.get(k)
            if isinstance(v, str) and v:
                try:
                    return datetime_from_text(v)
                except ValueError:
                    pass
        return now_ns

    def data_ack(self, msg_type: int, result: str, detail: str, sent_ts: int = 0) -> None:
        self.queue(control("MLinkDataAck", {"msgType": msg_type, "sendTs": sent_ts, "result": result,
                                          "detail": detail}))

    def _logon(self, msg: dict[str, Any]) -> None:
        key = msg.get("apiKey") or msg.get("jwtToken") or ""
        try:
            self.principal = self.hub.keys.authenticate(None, str(key) if key else None)
        except AuthError as e:
            self.queue(control("MLinkAdmin", {"state": "LogonFailed", "detail": str(e)}))
            self.closed = True
            self.close_reason = str(e)
            return
        self.queue(control("MLinkAdmin", {"state": "LoggedOn"}))

    def _data_message(self, doc: dict[str, Any], mt: MsgType, sent_ts: int) -> None:
        if self.hub.post is None:
            self.data_ack(mt.id, "OtherError", "data messages are not accepted on this socket")
            return
        assert self.principal is not None
        answer = self.hub.post(doc, self.principal)
        if isinstance(answer, dict):
            self._data_ack(mt, answer, sent_ts)
            return

        def done(fut: Future[dict[str, Any]]) -> None:  # on a NATS bus: after the JetStream ack
            if self.closed or fut.cancelled():
                return
            e = fut.exception()
            if e is not None:  # a bug on the post path: the poster still gets its answer
                log.error("post of %s failed", mt.name, exc_info=e)
                self.data_ack(mt.id, "Exception", f"{type(e).__name__}: {e}", sent_ts)
            else:
                self._data_ack(mt, fut.result(), sent_ts)
            if self.notify is not None:
                self.notify()
        answer.add_done_callback(done)

    def _data_ack(self, mt: MsgType, ack: dict[str, Any], sent_ts: int) -> None:
        result = {"OK": "OK", "InvldMsgType": "InvldMsgType", "AuthError": "AuthError",
                  "Exception": "Exception"}.get(
            ack.get("result", ""), "OtherError")
        self.data_ack(mt.id, result, ack.get("detail", ""), ack.get("sendTs", sent_ts))

    def _signal(self, mt: MsgType, msg: dict[str, Any]) -> None:
        rec = decode_record(mt, msg)
        sid_raw = msg.get("sessionID", msg.get("sesionID"))
        sid = None if sid_raw in (None, "", -1, "-1") else int(rec.get("sessionID", 0))
        signal_id = int(rec.get("signalID", 0))
        scan_enum = mt.field("readyScan").enum  # type: ignore[union-attr]
        kind = "FullScan" if rec.get("readyScan", 0) == scan_enum.index("FullScan") else "Incremental"  # type: ignore[union-attr]
        self.streams.signal(sid, signal_id, kind)
        self.subs.signal(sid, signal_id)

    # ---------------------------------------------------------------- output
    def pull(self, now_ns: int, max_frames: int = 4096) -> list[bytes]:
        """What to write now, in order: control replies first, then stream data with the
        checkpoints that close it -- at most about ``max_frames`` messages. ENVELOPE framing:
        one envelope per item; JSON/JSONF: WebSocket frames (several per item). Call again
        while ``has_work`` says there is more."""
        out: list[bytes] = []
        self._sink = out
        self._sent = 0
        try:
            while self._out and self._sent < max_frames:
                frame = self._out.popleft()
                if frame is self._hb_waiting:
                    self._hb_waiting = None
                self._put(frame)
            woke = self._wake
            self._wake = False
            self.streams.pull(now_ns, woke, max_frames - self._sent)
            if self.subs.by_type and self._sent < max_frames:
                self.subs.pull(now_ns, woke, _Framing(self._put))  # in order with its checkpoints
        finally:
            self._sink = None
        self.messages_sent += self._sent
        return out
