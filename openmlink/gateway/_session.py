"""One MLink WebSocket session (spec section 3), sans I/O.

Text frames go in through ``receive``; frames come out through ``pull``, which the I/O shell
calls whenever the socket can take more. Nothing here imports asyncio or a server.

What a stream sends is decided at pull time from the live tables: a stream remembers its
position in the table's change log and, when a send cycle is due, reads the rows that changed
since, filters them with its where clause and encodes their *current* state. A client that
does not read therefore costs nothing but that position: it is conflated to the latest record
per pkey, and memory stays flat. Control replies (acks, checkpoints) queue in a bounded
outbox; while it is full the shell stops reading the client's requests.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec
import numpy as np
import orjson

from ..query import BAnd, Bound, QueryError, WhereError, compile_where, parse_view, where_mask
from ..schema import (
    KeyError_,
    MsgType,
    RecordError,
    Registry,
    datetime_to_text,
    decode_record,
    parse_pkey,
    pkey_text,
)
from ..store import Store, Table
from ._auth import ApiKeys, AuthError, Principal
from ._encode import EncoderCache, RowEncoder
from ._stripes import stripe_bound
from ._visibility import visible

__all__ = ["Hub", "MLinkSession", "SessionConfig"]

_STREAM_STATE = {"Begin": "Begin", "Active": "Active", "Complete": "Complete",
                 "Replaced": "Replaced", "Terminated": "Terminated"}


class SessionConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """WebSocket session limits (``config.validated`` checks the bounds)."""

    heartbeat_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    max_outbox: Annotated[int, msgspec.Meta(ge=1)] = 10_000  # control frames queued before reading stops
    chunk_rows: Annotated[int, msgspec.Meta(ge=1)] = 2_000  # rows encoded per stream per pull (fairness)
    max_frame_bytes: Annotated[int, msgspec.Meta(ge=1)] = 1 << 20  # no WebSocket message over 1 MiB
    max_subscriptions: Annotated[int, msgspec.Meta(ge=1)] = 100_000


class Hub:
    """What all sessions share: tables, registry, keys, clock, encoders."""

    def __init__(self, reg: Registry, store: Store, keys: ApiKeys,
                 clock: Any, config: SessionConfig | None = None,
                 post: Callable[[dict[str, Any], Principal], dict[str, Any]] | None = None,
                 encoders: EncoderCache | None = None) -> None:
        self.reg = reg
        self.store = store
        self.keys = keys
        self.clock = clock
        self.config = config or SessionConfig()
        self.encoders = encoders or EncoderCache()
        self.post = post
        self._watchers: dict[str, set[MLinkSession]] = {}
        self._listening: set[str] = set()

    def table(self, mt: MsgType) -> Table:
        t = self.store.table(mt)
        if mt.name not in self._listening:
            self._listening.add(mt.name)
            t.listeners.append(self._on_change)
            t.stale_listeners.append(self._on_stale)
        return t

    def watch(self, mt: MsgType, s: MLinkSession, on: bool) -> None:
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


def _env(name: str, body: dict[str, Any]) -> bytes:
    body = {k: v for k, v in body.items() if v not in (0, "", None, [], "None")}
    return orjson.dumps({"header": {"mTyp": name}, "message": body})


@dataclass
class _Scan:
    """Rows still to send for a snapshot or a FullScan/Incremental batch."""

    rows: np.ndarray
    pos: int = 0
    sent: int = 0
    nbytes: int = 0
    started: float = 0.0
    signal_id: int = 0
    kind: str = "snapshot"  # snapshot | signal | cycle
    max_seq: int = 0  # cycle scans: rows written after this are left to the next cycle


@dataclass
class _Stream:
    mt: MsgType
    table: Table
    bound: Bound | None
    encoder: RowEncoder
    latency_ms: int
    session_id: int
    query_id: int
    label: str
    log_cursor: int
    seq: int
    highwater_ts: int
    next_due_ns: int = 0
    scans: deque[_Scan] = field(default_factory=deque)
    pending_signals: deque[tuple[int, str]] = field(default_factory=deque)
    live: bool = False

    def matching(self, rows: np.ndarray) -> np.ndarray:
        t = self.table
        rows = rows[rows < t.n]
        rows = rows[t.alive[rows]]
        if self.bound is not None and len(rows):
            rows = rows[where_mask(t, self.bound, rows)]
        if self.highwater_ts > 0 and len(rows):
            rows = rows[t.sent_ts[rows] > self.highwater_ts]
        return rows


@dataclass
class _Sub:
    """MLinkSubscribe state for one message type."""

    mt: MsgType
    table: Table
    keys: dict[tuple[Any, ...], int] = field(default_factory=dict)  # pkey -> last sent seq
    view: frozenset[str] | None = None
    last_fields: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)


class MLinkSession:
    """The protocol state of one socket."""

    def __init__(self, hub: Hub, principal: Principal | None, auth_error: str | None = None) -> None:
        self.hub = hub
        self.principal = principal
        self.closed = False
        self.close_reason = ""
        self._out: deque[bytes] = deque()
        self._sink: list[bytes] | None = None  # where frames go while pulling
        self.notify: Callable[[], None] | None = None  # set by the shell: wake the writer
        self._streams: dict[tuple[int, str], _Stream] = {}
        self._subs: dict[str, _Sub] = {}
        self._sub_session = (0, 0)  # (sessionID, subscribeID) of the latest MLinkSubscribe
        self._sub_latency_ms = 0
        self._sub_compress = False
        self._sub_next_ns = 0
        self._sub_signals: deque[int] = deque()
        self._sub_dirty = False
        self._hb_seq = 0
        self._wake = True
        self.messages_sent = 0
        if principal is not None:
            self._queue(_env("MLinkAdmin", {"state": "LoggedOn"}))
        elif auth_error:
            self._queue(_env("MLinkAdmin", {"state": "LogonFailed", "detail": auth_error}))
            self.closed = True
            self.close_reason = auth_error
        else:
            self._queue(_env("MLinkAdmin", {"state": "WaitingLogon",
                                            "detail": "send MLinkLogon with an apiKey"}))

    # ---------------------------------------------------------------- state for the shell
    @property
    def wants_input(self) -> bool:
        """False while the control outbox is full: the shell should stop reading."""
        return len(self._out) < self.hub.config.max_outbox

    def on_change(self) -> None:
        self._wake = True
        if self.notify is not None:
            self.notify()

    def has_work(self, now_ns: int) -> bool:
        if self._out:
            return True
        for st in self._streams.values():
            if st.scans or st.pending_signals:
                return True
            if st.live and st.latency_ms > 0 and self._wake and now_ns >= st.next_due_ns:
                return True
        if self._subs and (self._sub_signals or ((self._sub_dirty or self._wake)
                           and self._sub_latency_ms > 0 and now_ns >= self._sub_next_ns)):
            return True
        return False

    def next_due_ns(self) -> int | None:
        """When a timed send cycle is next due (None: only on new input or changes)."""
        dues = [st.next_due_ns for st in self._streams.values() if st.live and st.latency_ms > 0]
        if self._subs and self._sub_latency_ms > 0:
            dues.append(self._sub_next_ns)
        return min(dues) if dues else None

    def heartbeat(self, now_ns: int) -> None:
        self._hb_seq += 1
        self._queue(_env("MLinkHeartbeat", {"seqNum": self._hb_seq,
                                            "timestamp": datetime_to_text(now_ns)}))

    def close(self) -> None:
        for st in self._streams.values():
            self.hub.watch(st.mt, self, False)
        for sub in self._subs.values():
            self.hub.watch(sub.mt, self, False)
        self._streams.clear()
        self._subs.clear()
        self.closed = True

    def _queue(self, frame: bytes) -> None:
        if self._sink is not None:
            self._sink.append(frame)
        else:
            self._out.append(frame)

    # ---------------------------------------------------------------- input
    def receive(self, data: str | bytes, now_ns: int) -> None:
        """Handle one inbound text frame."""
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            self._data_ack(0, "JsonError", f"frame is not valid JSON ({e})")
            return
        if not isinstance(doc, dict) or not isinstance(doc.get("header"), dict):
            self._data_ack(0, "JsonError", "expected {\"header\": {\"mTyp\": ...}, \"message\": {...}}")
            return
        name = doc["header"].get("mTyp")
        mt = self.hub.reg.get(name) if isinstance(name, (str, int)) else None
        if mt is None:
            self._data_ack(0, "InvldMsgType", f"header.mTyp: unknown message type {name!r}")
            return
        msg = doc.get("message", {})
        if msg is None:
            msg = {}
        if not isinstance(msg, dict):
            self._data_ack(mt.id, "JsonError", "message must be an object")
            return
        sent_ts = self._sent_ts(doc["header"], now_ns)
        if mt.name == "MLinkLogon":
            self._logon(msg)
            return
        if self.principal is None:
            self._data_ack(mt.id, "AuthError", "not logged on: send MLinkLogon first")
            return
        try:
            if mt.name == "MLinkStream":
                self._stream(mt, msg, sent_ts, now_ns)
            elif mt.name == "MLinkSubscribe":
                self._subscribe(mt, msg, now_ns)
            elif mt.name == "MLinkSignalReady":
                self._signal(mt, msg)
            elif mt.name in ("MLinkHeartbeat", "MLinkTheoModel"):
                pass
            else:
                self._data_message(doc, mt, sent_ts)
        except RecordError as e:
            self._data_ack(mt.id, "OtherError", str(e))

    @staticmethod
    def _sent_ts(header: dict[str, Any], now_ns: int) -> int:
        for k in ("sTim", "encT"):
            v = header.get(k)
            if isinstance(v, str) and v:
                try:
                    from ..schema import datetime_from_text
                    return datetime_from_text(v)
                except ValueError:
                    pass
        return now_ns

    def _data_ack(self, msg_type: int, result: str, detail: str, sent_ts: int = 0) -> None:
        self._queue(_env("MLinkDataAck", {"msgType": msg_type, "sendTs": sent_ts, "result": result,
                                          "detail": detail}))

    def _logon(self, msg: dict[str, Any]) -> None:
        key = msg.get("apiKey") or msg.get("jwtToken") or ""
        try:
            self.principal = self.hub.keys.authenticate(None, str(key) if key else None)
        except AuthError as e:
            self._queue(_env("MLinkAdmin", {"state": "LogonFailed", "detail": str(e)}))
            self.closed = True
            self.close_reason = str(e)
            return
        self._queue(_env("MLinkAdmin", {"state": "LoggedOn"}))

    def _data_message(self, doc: dict[str, Any], mt: MsgType, sent_ts: int) -> None:
        if self.hub.post is None:
            self._data_ack(mt.id, "OtherError", "data messages are not accepted on this socket")
            return
        assert self.principal is not None
        ack = self.hub.post(doc, self.principal)
        result = {"OK": "OK", "InvldMsgType": "InvldMsgType", "AuthError": "AuthError",
                  "Exception": "Exception"}.get(
            ack.get("result", ""), "OtherError")
        self._data_ack(mt.id, result, ack.get("detail", ""), ack.get("sendTs", sent_ts))

    # ---------------------------------------------------------------- MLinkStream
    def _stream(self, smt: MsgType, msg: dict[str, Any], sent_ts: int, now_ns: int) -> None:
        rec = decode_record(smt, msg)
        e = smt.field("unsubscribe").enum  # type: ignore[union-attr]
        unsub = rec.get("unsubscribe", 0) == e.index("Yes")  # type: ignore[union-attr]
        sid = int(rec.get("sessionID", 0))
        qid = int(rec.get("queryID", 0))
        label = rec.get("queryLabel", "")
        name = str(msg.get("msgName", "") or "")
        base = {"sessionID": sid, "queryID": qid, "querySendTs": sent_ts, "queryLabel": label,
                "msgName": name, "unsubscribe": "Yes" if unsub else ""}
        mt = self.hub.reg.get(name) if name else None
        if mt is None:
            self._queue(_env("MLinkStreamAck", {**base, "result": "UnkwnMsgType",
                                                "detail": f"msgName: unknown message type '{name}'"}))
            return
        base["msgName"] = mt.name
        assert self.principal is not None
        if not self.principal.may_see(mt.token):
            self._queue(_env("MLinkStreamAck", {**base, "result": "UnauthMsgType",
                                                "detail": f"{mt.name} needs token {mt.token}"}))
            return
        key = (sid, mt.name)
        if unsub:
            old = self._streams.pop(key, None)
            self._queue(_env("MLinkStreamAck", {**base, "result": "OK",
                                                "detail": "" if old else "no such stream"}))
            if old is not None:
                self.hub.watch(mt, self, False)
                self._checkpoint(old, "Terminated")
            return
        try:
            bound = visible(mt, compile_where(mt, rec.get("where")), self.principal)
            if rec.get("stripeFilter"):
                stripe = stripe_bound(mt, rec["stripeFilter"])
                bound = stripe if bound is None else BAnd((bound, stripe))
            view = parse_view(mt, rec.get("view"))
            table = self.hub.store.prepare(mt, bound, self.principal)
        except (QueryError, WhereError, KeyError_) as err:
            self._queue(_env("MLinkStreamAck", {**base, "result": "Error", "detail": str(err)}))
            return
        latency = max(0, int(rec.get("activeLatency", 0)))
        old = self._streams.pop(key, None)
        if old is not None:
            self._checkpoint(old, "Replaced")
        self.hub.table(mt)  # listen for its changes
        hw = int(rec.get("highwaterTs", 0))
        st = _Stream(mt, table, bound, self.hub.encoders.get(mt, view), latency, sid, qid, label,
                     table.log_count, table.seq, hw if hw > 0 else 0)
        self._streams[key] = st
        self.hub.watch(mt, self, True)
        self._queue(_env("MLinkStreamAck", {**base, "result": "OK"}))
        self._checkpoint(st, "Begin", timestamp=now_ns)
        rows = np.zeros(0, np.int64) if hw == -1 else st.matching(table.live_rows())
        st.scans.append(_Scan(rows, started=time.perf_counter()))

    def _checkpoint(self, st: _Stream, state: str, *, timestamp: int = 0, signal_id: int = 0,
                    scan: _Scan | None = None, detail: str = "") -> None:
        body: dict[str, Any] = {"sessionID": st.session_id, "queryID": st.query_id,
                                "signalID": signal_id, "state": state, "detail": detail,
                                "highwaterTs": int(st.table.sent_ts[: st.table.n].max())
                                if st.table.n and state in ("Active", "Complete") else 0}
        if scan is not None:
            body["numMessagesSent"] = scan.sent
            body["numBytesSent"] = scan.nbytes
            if state == "Complete":
                el = time.perf_counter() - scan.started
                body.update({"queryElapsed": el, "sendElapsed": el})
        body["timestamp"] = datetime_to_text(timestamp or self.hub.clock.time_ns())
        self._queue(_env("MLinkStreamCheckPt", body))

    # ---------------------------------------------------------------- MLinkSignalReady
    def _signal(self, mt: MsgType, msg: dict[str, Any]) -> None:
        rec = decode_record(mt, msg)
        sid_raw = msg.get("sessionID", msg.get("sesionID"))
        sid = None if sid_raw in (None, "", -1, "-1") else int(rec.get("sessionID", 0))
        signal_id = int(rec.get("signalID", 0))
        scan_enum = mt.field("readyScan").enum  # type: ignore[union-attr]
        kind = "FullScan" if rec.get("readyScan", 0) == scan_enum.index("FullScan") else "Incremental"  # type: ignore[union-attr]
        for (s, _), st in self._streams.items():
            if sid is None or s == sid:
                st.pending_signals.append((signal_id, kind))
        if self._subs and (sid is None or sid == self._sub_session[0]):
            self._sub_signals.append(signal_id)

    # ---------------------------------------------------------------- MLinkSubscribe
    def _subscribe(self, smt: MsgType, msg: dict[str, Any], now_ns: int) -> None:
        rec = decode_record(smt, {k: v for k, v in msg.items()
                                  if k.lower() not in ("subscribe", "unsubscribe", "view")})
        yes = smt.field("doReset").enum.index("Yes")  # type: ignore[union-attr]
        sid, sub_id = int(rec.get("sessionID", 0)), int(rec.get("subscribeID", 0))
        did_reset = rec.get("doReset", 0) == yes
        comp = smt.field("compression").enum  # type: ignore[union-attr]
        self._sub_compress = rec.get("compression", 0) == comp.index("FieldChangesOnly")  # type: ignore[union-attr]
        self._sub_latency_ms = max(0, int(rec.get("activeLatency", 0)))
        self._sub_session = (sid, sub_id)
        if did_reset:
            for sub in self._subs.values():
                self.hub.watch(sub.mt, self, False)
            self._subs.clear()
        for sub in self._subs.values():
            sub.last_fields.clear()  # compression restarts with every request
        low = {str(k).lower(): v for k, v in msg.items()}
        view_acks, sub_acks, unsub_acks = [], [], []
        new_keys: list[tuple[_Sub, tuple[Any, ...]]] = []
        assert self.principal is not None
        for item in _items(low.get("view")):
            name = str(item.get("msgName", ""))
            mt = self.hub.reg.get(name) if name else None
            if mt is None:
                view_acks.append({"msgName": name, "view": item.get("view", ""), "result": "UnkwnMsgType"})
                continue
            try:
                v = parse_view(mt, item.get("view"))
            except QueryError as e:
                view_acks.append({"msgName": mt.name, "view": item.get("view", ""),
                                  "result": "ViewErr", "detail": str(e)})
                continue
            self._sub_for(mt).view = v
            view_acks.append({"msgName": mt.name, "view": item.get("view", ""), "result": "OK"})
        for item in _items(low.get("unsubscribe")):
            name = str(item.get("msgName", ""))
            mt = self.hub.reg.get(name) if name else None
            pk_raw = item.get("msgPKey")
            if mt is None or mt.name not in self._subs:
                unsub_acks.append({"msgName": name, "msgPKey": _pk_echo(pk_raw),
                                   "result": "UnkwnMsgType" if mt is None else "OK"})
                continue
            sub = self._subs[mt.name]
            if pk_raw in (None, ""):
                sub.keys.clear()
            else:
                try:
                    sub.keys.pop(parse_pkey(mt, pk_raw, "msgPKey"), None)
                except (RecordError, KeyError_, ValueError) as e:
                    unsub_acks.append({"msgName": mt.name, "msgPKey": _pk_echo(pk_raw),
                                       "result": "InvldPKey", "detail": str(e)})
                    continue
            unsub_acks.append({"msgName": mt.name, "msgPKey": _pk_echo(pk_raw), "result": "OK"})
        total = sum(len(s.keys) for s in self._subs.values())
        computed_ok: set[str] = set()
        for item in _items(low.get("subscribe")):
            name = str(item.get("msgName", ""))
            mt = self.hub.reg.get(name) if name else None
            pk_raw = item.get("msgPKey")
            echo = {"msgName": mt.name if mt else name, "msgPKey": _pk_echo(pk_raw)}
            if mt is None:
                sub_acks.append({**echo, "result": "UnkwnMsgType"})
                continue
            if not self.principal.may_see(mt.token):
                sub_acks.append({**echo, "result": "UnauthMsgType", "detail": f"needs token {mt.token}"})
                continue
            if not mt.pkey:
                sub_acks.append({**echo, "result": "InvldMsgType", "detail": f"{mt.name} has no pkey"})
                continue
            if pk_raw in (None, ""):
                sub_acks.append({**echo, "result": "MissingPKey", "detail": "msgPKey: required"})
                continue
            try:
                pk = parse_pkey(mt, pk_raw, "msgPKey")
            except (RecordError, KeyError_, ValueError) as e:
                sub_acks.append({**echo, "result": "InvldPKey", "detail": str(e)})
                continue
            if mt.name not in computed_ok and self.hub.store.is_computed(mt):
                try:  # a computed type must be computable without a where clause
                    self.hub.store.prepare(mt, None, self.principal)
                except QueryError as e:
                    sub_acks.append({**echo, "result": "InvldMsgType", "detail": str(e)})
                    continue
                computed_ok.add(mt.name)
            if total >= self.hub.config.max_subscriptions:
                sub_acks.append({**echo, "result": "InvldPKey",
                                 "detail": f"more than {self.hub.config.max_subscriptions} subscriptions"})
                continue
            sub = self._sub_for(mt)
            if pk not in sub.keys:
                total += 1
            sub.keys[pk] = -1
            new_keys.append((sub, pk))
            sub_acks.append({**echo, "msgPKey": pkey_text(mt, pk), "result": "OK"})
        failed = [a for a in sub_acks + view_acks + unsub_acks if a["result"] != "OK"]
        self._queue(_env("MLinkSubscribeAck", {
            "sessionID": sid, "subscribeID": sub_id,
            "numActiveSubscriptions": sum(len(s.keys) for s in self._subs.values()),
            "didReset": "Yes" if did_reset else "No",
            "succeeded": "No" if failed else "Yes",
            "errorMsg": failed[0].get("detail", failed[0]["result"]) if failed else "",
            "Subscribe": [_clean(a) for a in sub_acks],
            "Unsubscribe": [_clean(a) for a in unsub_acks],
            "View": [_clean(a) for a in view_acks],
        }))
        self._sub_checkpoint("Begin")
        frames = []
        for sub, pk in new_keys:
            f = self._sub_frame(sub, pk, force=True)
            if f is not None:
                frames.append(f)
        for f in frames:
            self._queue(f)
        self._sub_checkpoint("Active")
        self._sub_next_ns = now_ns

    def _sub_for(self, mt: MsgType) -> _Sub:
        sub = self._subs.get(mt.name)
        if sub is None:
            sub = self._subs[mt.name] = _Sub(mt, self.hub.table(mt))
            self.hub.watch(mt, self, True)
        return sub

    def _sub_checkpoint(self, state: str, signal_id: int = 0) -> None:
        self._queue(_env("MLinkSubscribeCheckPt", {"sessionID": self._sub_session[0],
                                                   "subscribeID": self._sub_session[1],
                                                   "signalID": signal_id, "state": state}))

    def _sub_frame(self, sub: _Sub, pk: tuple[Any, ...], force: bool = False) -> bytes | None:
        """The record of one subscribed key if it changed since last sent (None otherwise)."""
        t = sub.table
        row = t.index.get(pk)
        if row is None:
            return None
        cf = sub.mt.field("clientFirm")
        if cf is not None and self.principal is not None and self.principal.client_firm is not None \
                and t.vocabs[cf.name].words[t.cols[cf.name][row]] != self.principal.client_firm:
            return None  # another firm's record
        sq = int(t.row_seq[row])
        if not force and sub.keys.get(pk) == sq:
            return None
        sub.keys[pk] = sq
        enc = self.hub.encoders.get(sub.mt, sub.view)
        if not self._sub_compress:
            return enc.encode(t, np.array([row], np.int64))[0]
        body = enc.body(t, row)
        last = sub.last_fields.get(pk)
        sub.last_fields[pk] = body
        if last is not None:
            body = {k: v for k, v in body.items() if k == "pkey" or last.get(k) != v}
        return orjson.dumps({"header": {"mTyp": sub.mt.name}, "message": body})

    # ---------------------------------------------------------------- output
    def pull(self, now_ns: int, max_frames: int = 4096) -> list[bytes]:
        """Frames to write now, in order: control replies first, then stream data with the
        checkpoints that close it. Call again while ``has_work`` says there is more."""
        out: list[bytes] = []
        while self._out and len(out) < max_frames:
            out.append(self._out.popleft())
        woke = self._wake
        self._wake = False
        self._sink = out
        try:
            for st in list(self._streams.values()):
                if len(out) >= max_frames:
                    self._wake = True
                    break
                self._pull_stream(st, now_ns, woke, max_frames - len(out))
            if self._subs and len(out) < max_frames:
                self._pull_subs(now_ns, woke)
        finally:
            self._sink = None
        limit = self.hub.config.max_frame_bytes
        if any(len(f) > limit for f in out):
            for f in out:
                if len(f) > limit:
                    self._data_ack(0, "OtherError",
                                   f"a {len(f)}-byte record exceeds the 1 MiB frame limit; not sent")
            out = [f for f in out if len(f) <= limit]
        self.messages_sent += len(out)
        return out

    def _pull_stream(self, st: _Stream, now_ns: int, woke: bool, budget: int) -> None:
        out = self._sink
        assert out is not None
        start = len(out)
        if not st.scans and st.live:
            self._start_batch(st, now_ns, woke)
        while st.scans and len(out) - start < budget:
            scan = st.scans[0]
            n = min(self.hub.config.chunk_rows, budget - (len(out) - start), len(scan.rows) - scan.pos)
            rows = scan.rows[scan.pos:scan.pos + n]
            scan.pos += n
            rows = rows[st.table.alive[rows]]  # deleted since the scan began
            if scan.kind == "cycle":
                rows = rows[st.table.row_seq[rows] <= scan.max_seq]
            frames = st.encoder.encode(st.table, rows)
            scan.sent += len(frames)
            scan.nbytes += sum(len(f) for f in frames)
            out.extend(frames)
            if scan.pos < len(scan.rows):
                continue
            st.scans.popleft()
            if scan.kind == "snapshot":
                self._checkpoint(st, "Active", scan=scan)
                self._checkpoint(st, "Complete", scan=scan)
                st.live = True
                st.next_due_ns = now_ns
            elif scan.kind == "signal":
                self._checkpoint(st, "Complete", scan=scan, signal_id=scan.signal_id)
            if not st.scans:
                self._start_batch(st, now_ns, False)
        if st.scans:
            self._wake = True

    def _start_batch(self, st: _Stream, now_ns: int, woke: bool) -> None:
        """Queue the next batch of a live stream: a signalled scan, or a due send cycle."""
        if st.pending_signals or (st.latency_ms > 0 and woke and now_ns >= st.next_due_ns):
            try:  # computed types are brought up to date first
                self.hub.store.prepare(st.mt, st.bound, self.principal)
            except QueryError as e:
                self._checkpoint(st, "Terminated", detail=str(e))
                st.pending_signals.clear()
                return
        if st.pending_signals:
            signal_id, kind = st.pending_signals.popleft()
            if kind == "FullScan":
                rows = st.matching(st.table.live_rows())
                if st.latency_ms == 0:
                    _, st.log_cursor = st.table.changed_since(st.log_cursor, st.seq)
                    st.seq = st.table.seq
            else:
                changed, st.log_cursor = st.table.changed_since(st.log_cursor, st.seq)
                st.seq = st.table.seq
                rows = st.matching(changed)
            st.scans.append(_Scan(rows, started=time.perf_counter(), signal_id=signal_id, kind="signal"))
            return
        if st.latency_ms > 0 and woke:
            if now_ns < st.next_due_ns:
                self._wake = True  # changes wait for the next cycle
                return
            changed, cursor = st.table.changed_since(st.log_cursor, st.seq)
            st.log_cursor, st.seq = cursor, st.table.seq
            if len(changed):
                rows = st.matching(changed)
                if len(rows):
                    # at most one record per pkey per cycle, in its latest state
                    st.scans.append(_Scan(rows, started=time.perf_counter(), kind="cycle",
                                          max_seq=st.seq))
                st.next_due_ns = now_ns + st.latency_ms * 1_000_000

    def _pull_subs(self, now_ns: int, woke: bool) -> None:
        out = self._sink
        assert out is not None
        due = self._sub_latency_ms > 0 and (woke or self._sub_dirty) and now_ns >= self._sub_next_ns
        if self._sub_signals or due:
            self._refresh_computed_subs()
        while self._sub_signals:
            sig = self._sub_signals.popleft()
            for sub in self._subs.values():
                for pk in list(sub.keys):
                    f = self._sub_frame(sub, pk)
                    if f is not None:
                        out.append(f)
            self._sub_checkpoint("Active", sig)
        if self._sub_latency_ms > 0 and (woke or self._sub_dirty):
            if now_ns < self._sub_next_ns:
                self._sub_dirty = True
                self._wake = True
                return
            for sub in self._subs.values():
                for pk in list(sub.keys):
                    f = self._sub_frame(sub, pk)
                    if f is not None:
                        out.append(f)
            self._sub_dirty = False
            self._sub_next_ns = now_ns + self._sub_latency_ms * 1_000_000


    def _refresh_computed_subs(self) -> None:
        """Bring subscribed computed types up to date before their keys are read."""
        for sub in self._subs.values():
            if sub.keys and self.hub.store.is_computed(sub.mt):
                try:
                    self.hub.store.prepare(sub.mt, None, self.principal)
                except QueryError as e:
                    self._data_ack(sub.mt.id, "OtherError", f"{sub.mt.name}: {e}")


def _items(v: Any) -> list[dict[str, Any]]:
    if isinstance(v, dict):
        return [v]
    if isinstance(v, list):
        return [x for x in v if isinstance(x, dict)]
    return []


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in ("", None)}


def _pk_echo(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    return orjson.dumps(raw).decode() if raw is not None else ""
