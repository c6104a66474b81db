"""MLinkStream for one session (spec section 3), sans I/O: snapshots, timed send cycles and
MLinkSignalReady batches.

What a stream sends is decided at pull time from the live tables: a stream remembers its
position in the table's change log and, when a send cycle is due, reads the rows that changed
since, filters them with its where clause and encodes their *current* state. A client that
does not read therefore costs nothing but that position: it is conflated to the latest record
per pkey, and memory stays flat.  Computed types (``Store.is_computed``) are refreshed before
each batch, and their input changes wake the stream (``Hub``).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..query import BAnd, Bound, QueryError, WhereError, compile_where, parse_view, where_mask
from ..schema import KeyError_, MsgType, datetime_to_text, decode_record
from ..store import Table
from ._encode import RowEncoder
from ._frames import SessionOwner, control
from ._stripes import stripe_bound
from ._visibility import visible

if TYPE_CHECKING:
    from ._session import Hub

__all__ = ["Streams"]


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
    #: a watched table changed since the stream last read its change log: kept while a
    #: snapshot or a batch is being sent (the session's wake is spent on the pull that sends
    #: it), so the next send cycle reads the change -- without it a change made between the
    #: request and the end of its snapshot waited for the table's next change (a flash
    #: auction's one AuctionState was never streamed)
    changed: bool = False

    def matching(self, rows: np.ndarray) -> np.ndarray:
        t = self.table
        rows = rows[rows < t.n]
        rows = rows[t.alive[rows]]
        if self.bound is not None and len(rows):
            rows = rows[where_mask(t, self.bound, rows)]
        if self.highwater_ts > 0 and len(rows):
            rows = rows[t.sent_ts[rows] > self.highwater_ts]
        return rows


class Streams:
    """The MLinkStream streams of one session, by (sessionID, message type)."""

    def __init__(self, hub: Hub, owner: SessionOwner) -> None:
        self.hub = hub
        self.owner = owner
        self.by_key: dict[tuple[int, str], _Stream] = {}

    def has_work(self, now_ns: int, woke: bool) -> bool:
        for st in self.by_key.values():
            if st.scans or st.pending_signals:
                return True
            if st.live and st.latency_ms > 0 and (woke or st.changed) and now_ns >= st.next_due_ns:
                return True
        return False

    def dues(self) -> list[int]:
        """When each timed stream's next send cycle is due."""
        return [st.next_due_ns for st in self.by_key.values() if st.live and st.latency_ms > 0]

    def close(self) -> None:
        for st in self.by_key.values():
            self.hub.watch(st.mt, self, False)
        self.by_key.clear()

    def on_change(self) -> None:
        """A table one of the streams reads changed (``Hub.watch``)."""
        self.owner.on_change()

    def _unwatch(self, mt: MsgType) -> None:
        """Stop watching ``mt`` unless another stream still reads it."""
        if all(st.mt.name != mt.name for st in self.by_key.values()):
            self.hub.watch(mt, self, False)

    def signal(self, sid: int | None, signal_id: int, kind: str) -> None:
        """MLinkSignalReady: a FullScan or Incremental batch for the streams of ``sid`` (all
        when None)."""
        for (s, _), st in self.by_key.items():
            if sid is None or s == sid:
                st.pending_signals.append((signal_id, kind))

    def pull(self, now_ns: int, woke: bool, budget: int) -> None:
        """Emit what the streams have to send now (about ``budget`` records in all)."""
        for st in list(self.by_key.values()):
            if budget <= 0:
                self.owner.rewake()
                break
            budget -= self._pull_stream(st, now_ns, woke, budget)

    def request(self, smt: MsgType, msg: dict[str, Any], sent_ts: int, now_ns: int) -> None:
        """An MLinkStream request: start, replace or end a stream."""
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
            self.owner.queue(control("MLinkStreamAck", {**base, "result": "UnkwnMsgType",
                                                "detail": f"msgName: unknown message type '{name}'"}))
            return
        base["msgName"] = mt.name
        assert self.owner.principal is not None
        if not self.owner.principal.may_see(mt.token):
            self.owner.queue(control("MLinkStreamAck", {**base, "result": "UnauthMsgType",
                                                "detail": f"{mt.name} needs token {mt.token}"}))
            return
        key = (sid, mt.name)
        if unsub:
            old = self.by_key.pop(key, None)
            self.owner.queue(control("MLinkStreamAck", {**base, "result": "OK",
                                                "detail": "" if old else "no such stream"}))
            if old is not None:
                self._unwatch(mt)
                self.checkpoint(old, "Terminated")
            return
        try:
            bound = visible(mt, compile_where(mt, rec.get("where")), self.owner.principal,
                            self.hub.store)
            if rec.get("stripeFilter"):
                stripe = stripe_bound(mt, rec["stripeFilter"])
                bound = stripe if bound is None else BAnd((bound, stripe))
            view = parse_view(mt, rec.get("view"))
            table = self.hub.store.prepare(mt, bound, self.owner.principal)
        except (QueryError, WhereError, KeyError_) as err:
            self.owner.queue(control("MLinkStreamAck", {**base, "result": "Error", "detail": str(err)}))
            return
        latency = max(0, int(rec.get("activeLatency", 0)))
        old = self.by_key.pop(key, None)
        if old is not None:
            self.checkpoint(old, "Replaced")
        self.hub.table(mt)  # listen for its changes
        hw = int(rec.get("highwaterTs", 0))
        st = _Stream(mt, table, bound, self.hub.encoders.get(mt, view), latency, sid, qid, label,
                     table.log_count, table.seq, hw if hw > 0 else 0)
        self.by_key[key] = st
        self.hub.watch(mt, self, True)
        self.owner.queue(control("MLinkStreamAck", {**base, "result": "OK"}))
        self.checkpoint(st, "Begin", timestamp=now_ns)
        rows = np.zeros(0, np.int64) if hw == -1 else st.matching(table.live_rows())
        st.scans.append(_Scan(rows, started=time.perf_counter()))

    def checkpoint(self, st: _Stream, state: str, *, timestamp: int = 0, signal_id: int = 0,
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
        self.owner.queue(control("MLinkStreamCheckPt", body))

    def _pull_stream(self, st: _Stream, now_ns: int, woke: bool, budget: int) -> int:
        """Emit the stream's due records (about ``budget``); returns how many."""
        sent = 0
        st.changed = st.changed or woke
        if not st.scans and st.live:
            self._start_batch(st, now_ns, st.changed)
        while st.scans and sent < budget:
            scan = st.scans[0]
            n = min(self.hub.config.chunk_rows, budget - sent, len(scan.rows) - scan.pos)
            rows = scan.rows[scan.pos:scan.pos + n]
            scan.pos += n
            rows = rows[st.table.alive[rows]]  # deleted since the scan began
            if scan.kind == "cycle":
                rows = rows[st.table.row_seq[rows] <= scan.max_seq]
            if len(rows):
                # (inferred) a scan bigger than the encoder's cache reads it but does not fill it
                keep = scan.kind == "cycle" or len(scan.rows) <= st.encoder.max_cached
                units, sizes = st.encoder.encode_wire(st.table, rows, self.owner.framing, keep)
                big = sizes > self.owner.frame_limit
                if big.any():
                    lim = self.owner.frame_limit
                    for size in sizes[big].tolist():
                        self.owner.data_ack(st.mt.id, "OtherError", f"a {size}-byte {st.mt.name} record "
                                            f"exceeds the {lim}-byte frame limit; not sent")
                    units, sizes = units[~big], sizes[~big]
                scan.sent += len(units)
                scan.nbytes += int(sizes.sum())
                sent += len(units)
                self.owner.emit(units, sizes)
            if scan.pos < len(scan.rows):
                continue
            st.scans.popleft()
            if scan.kind == "snapshot":
                self.checkpoint(st, "Active", scan=scan)
                self.checkpoint(st, "Complete", scan=scan)
                st.live = True
                st.next_due_ns = now_ns
            elif scan.kind == "signal":
                self.checkpoint(st, "Complete", scan=scan, signal_id=scan.signal_id)
            if not st.scans:
                self._start_batch(st, now_ns, st.changed)
        if st.scans:
            self.owner.rewake()
        return sent

    def _start_batch(self, st: _Stream, now_ns: int, woke: bool) -> None:
        """Queue the next batch of a live stream: a signalled scan, or a due send cycle."""
        if st.pending_signals or (st.latency_ms > 0 and woke and now_ns >= st.next_due_ns):
            try:  # computed types are brought up to date first
                self.hub.store.prepare(st.mt, st.bound, self.owner.principal)
            except QueryError as e:
                self.checkpoint(st, "Terminated", detail=str(e))
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
                self.owner.rewake()  # changes wait for the next cycle
                return
            changed, cursor = st.table.changed_since(st.log_cursor, st.seq)
            st.log_cursor, st.seq = cursor, st.table.seq
            st.changed = False
            if len(changed):
                rows = st.matching(changed)
                if len(rows):
                    # at most one record per pkey per cycle, in its latest state
                    st.scans.append(_Scan(rows, started=time.perf_counter(), kind="cycle",
                                          max_seq=st.seq))
                st.next_due_ns = now_ns + st.latency_ms * 1_000_000
