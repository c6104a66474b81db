"""MLinkSubscribe for one session (spec section 3), sans I/O: records by pkey, with views,
FieldChangesOnly compression, doReset, and timed or signalled updates."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from ..query import Bound, QueryError, parse_view, where_mask
from ..schema import (
    KeyError_,
    MsgType,
    RecordError,
    decode_record,
    parse_pkey,
    pkey_text,
)
from ..store import Table
from ._frames import SessionOwner, control
from ._visibility import visible

if TYPE_CHECKING:
    from ._session import Hub

__all__ = ["Subscriptions"]


@dataclass
class _Sub:
    """MLinkSubscribe state for one message type."""

    mt: MsgType
    table: Table
    keys: dict[tuple[Any, ...], int] = field(default_factory=dict)  # pkey -> last sent seq
    view: frozenset[str] | None = None
    last_fields: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    #: the rows the session's principal may see (its firm, the store's row rules); None: all
    bound: Bound | None = None


class Subscriptions:
    """The MLinkSubscribe state of one session: subscribed keys by message type, and the
    settings of the latest request (ids, activeLatency, compression)."""

    def __init__(self, hub: Hub, owner: SessionOwner) -> None:
        self.hub = hub
        self.owner = owner
        self.by_type: dict[str, _Sub] = {}
        self.ids = (0, 0)  # (sessionID, subscribeID) of the latest MLinkSubscribe
        self.latency_ms = 0
        self.compress = False
        self.next_ns = 0
        self.signals: deque[int] = deque()
        self.dirty = False

    def has_work(self, now_ns: int, woke: bool) -> bool:
        return bool(self.by_type) and bool(self.signals or ((self.dirty or woke)
                                            and self.latency_ms > 0 and now_ns >= self.next_ns))

    def due(self) -> int | None:
        """When the next timed send cycle is due (None: none)."""
        return self.next_ns if self.by_type and self.latency_ms > 0 else None

    def close(self) -> None:
        for sub in self.by_type.values():
            self.hub.watch(sub.mt, self, False)
        self.by_type.clear()

    def on_change(self) -> None:
        """A table of a subscribed type changed (``Hub.watch``)."""
        self.owner.on_change()

    def signal(self, sid: int | None, signal_id: int) -> None:
        """MLinkSignalReady for ``sid`` (all when None): re-send what changed."""
        if self.by_type and (sid is None or sid == self.ids[0]):
            self.signals.append(signal_id)

    def request(self, smt: MsgType, msg: dict[str, Any], now_ns: int) -> None:
        """An MLinkSubscribe request: views, unsubscriptions, subscriptions, then the
        subscribed records."""
        rec = decode_record(smt, {k: v for k, v in msg.items()
                                  if k.lower() not in ("subscribe", "unsubscribe", "view")})
        yes = smt.field("doReset").enum.index("Yes")  # type: ignore[union-attr]
        sid, sub_id = int(rec.get("sessionID", 0)), int(rec.get("subscribeID", 0))
        did_reset = rec.get("doReset", 0) == yes
        comp = smt.field("compression").enum  # type: ignore[union-attr]
        self.compress = rec.get("compression", 0) == comp.index("FieldChangesOnly")  # type: ignore[union-attr]
        self.latency_ms = max(0, int(rec.get("activeLatency", 0)))
        self.ids = (sid, sub_id)
        if did_reset:
            for sub in self.by_type.values():
                self.hub.watch(sub.mt, self, False)
            self.by_type.clear()
        for sub in self.by_type.values():
            sub.last_fields.clear()  # compression restarts with every request
        low = {str(k).lower(): v for k, v in msg.items()}
        view_acks, sub_acks, unsub_acks = [], [], []
        new_keys: list[tuple[_Sub, tuple[Any, ...]]] = []
        assert self.owner.principal is not None
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
            if mt is None or mt.name not in self.by_type:
                unsub_acks.append({"msgName": name, "msgPKey": _pk_echo(pk_raw),
                                   "result": "UnkwnMsgType" if mt is None else "OK"})
                continue
            sub = self.by_type[mt.name]
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
        total = sum(len(s.keys) for s in self.by_type.values())
        computed_ok: set[str] = set()
        for item in _items(low.get("subscribe")):
            name = str(item.get("msgName", ""))
            mt = self.hub.reg.get(name) if name else None
            pk_raw = item.get("msgPKey")
            echo = {"msgName": mt.name if mt else name, "msgPKey": _pk_echo(pk_raw)}
            if mt is None:
                sub_acks.append({**echo, "result": "UnkwnMsgType"})
                continue
            if not self.owner.principal.may_see(mt.token):
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
                    self.hub.store.prepare(mt, None, self.owner.principal)
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
        self.owner.queue(control("MLinkSubscribeAck", {
            "sessionID": sid, "subscribeID": sub_id,
            "numActiveSubscriptions": sum(len(s.keys) for s in self.by_type.values()),
            "didReset": "Yes" if did_reset else "No",
            "succeeded": "No" if failed else "Yes",
            "errorMsg": failed[0].get("detail", failed[0]["result"]) if failed else "",
            "Subscribe": [_clean(a) for a in sub_acks],
            "Unsubscribe": [_clean(a) for a in unsub_acks],
            "View": [_clean(a) for a in view_acks],
        }))
        self.checkpoint("Begin")
        frames = []
        for sub, pk in new_keys:
            f = self._frame(sub, pk, force=True)
            if f is not None:
                frames.append(f)
        for f in frames:
            self.owner.queue(f)
        self.checkpoint("Active")
        self.next_ns = now_ns

    def _sub_for(self, mt: MsgType) -> _Sub:
        sub = self.by_type.get(mt.name)
        if sub is None:
            sub = self.by_type[mt.name] = _Sub(mt, self.hub.table(mt),
                                               bound=visible(mt, None, self.owner.principal,
                                                             self.hub.store))
            self.hub.watch(mt, self, True)
        return sub

    def checkpoint(self, state: str, signal_id: int = 0) -> None:
        self.owner.queue(control("MLinkSubscribeCheckPt", {"sessionID": self.ids[0],
                                                   "subscribeID": self.ids[1],
                                                   "signalID": signal_id, "state": state}))

    def _frame(self, sub: _Sub, pk: tuple[Any, ...], force: bool = False) -> bytes | None:
        """The record of one subscribed key if it changed since last sent (None otherwise)."""
        t = sub.table
        row = t.index.get(pk)
        if row is None:
            return None
        if sub.bound is not None and not where_mask(t, sub.bound, np.array([row], np.int64))[0]:
            return None  # another firm's record, or an auction outside the firm's audience
        sq = int(t.row_seq[row])
        if not force and sub.keys.get(pk) == sq:
            return None
        sub.keys[pk] = sq
        enc = self.hub.encoders.get(sub.mt, sub.view)
        if not self.compress:
            return enc.encode(t, np.array([row], np.int64))[0]
        body = enc.body(t, row)
        last = sub.last_fields.get(pk)
        sub.last_fields[pk] = body
        if last is not None:
            body = {k: v for k, v in body.items() if k == "pkey" or last.get(k) != v}
        return orjson.dumps({"header": {"mTyp": sub.mt.name}, "message": body})

    def pull(self, now_ns: int, woke: bool, out: list[bytes]) -> None:
        """Append what the subscriptions have to send now."""
        due = self.latency_ms > 0 and (woke or self.dirty) and now_ns >= self.next_ns
        if self.signals or due:
            self._refresh_computed()
        while self.signals:
            sig = self.signals.popleft()
            for sub in self.by_type.values():
                for pk in list(sub.keys):
                    f = self._frame(sub, pk)
                    if f is not None:
                        out.append(f)
            self.checkpoint("Active", sig)
        if self.latency_ms > 0 and (woke or self.dirty):
            if now_ns < self.next_ns:
                self.dirty = True
                self.owner.rewake()
                return
            for sub in self.by_type.values():
                for pk in list(sub.keys):
                    f = self._frame(sub, pk)
                    if f is not None:
                        out.append(f)
            self.dirty = False
            self.next_ns = now_ns + self.latency_ms * 1_000_000


    def _refresh_computed(self) -> None:
        """Bring subscribed computed types up to date before their keys are read."""
        for sub in self.by_type.values():
            if sub.keys and self.hub.store.is_computed(sub.mt):
                try:
                    self.hub.store.prepare(sub.mt, None, self.owner.principal)
                except QueryError as e:
                    self.owner.data_ack(sub.mt.id, "OtherError", f"{sub.mt.name}: {e}")

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

