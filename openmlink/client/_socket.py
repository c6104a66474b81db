"""Asynchronous WebSocket client (``/mlink/json`` or ``/mlink/jsonf``): streams and
subscriptions as async iterators, with reconnect and resubscribe."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ._errors import MLinkConnectionError, MLinkError
from ._framing import decode_frame, encode_message
from ._records import Record
from ._urls import Endpoint

__all__ = ["MLinkSocket", "StreamEvent", "Subscription"]

log = logging.getLogger("openmlink.client")

#: event kinds a subscription yields
RECORD, CHECKPOINT, ACK, DISCONNECTED, RECONNECTED = (
    "record", "checkpoint", "ack", "disconnected", "reconnected")


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One thing a stream or subscription delivered.

    ``kind``: ``record`` (a data record of type ``mtyp``), ``checkpoint``
    (``MLinkStreamCheckPt``/``MLinkSubscribeCheckPt``; ``state`` says which), ``ack`` (the
    request's OK ack), ``disconnected`` (the socket dropped; ``message['detail']`` says why) or
    ``reconnected`` (the request was sent again on a new socket: a fresh snapshot follows)."""

    kind: str
    mtyp: str
    message: Record = field(default_factory=dict)

    @property
    def state(self) -> str:
        """A checkpoint's ``state`` (``Begin``, ``Active``, ``Complete``, ...), else ''."""
        return str(self.message.get("state", "")) if self.kind == CHECKPOINT else ""


class Subscription:
    """The events of one ``MLinkStream`` or ``MLinkSubscribe`` request, in arrival order.

    Iterate it (``async for ev in sub``) for every event, or ``records()`` for data records
    only; ``snapshot()`` collects the records up to the end of the snapshot. The queue is
    bounded: a consumer that stops reading stops the socket reader, and the server conflates
    (each key's newest record only) until it reads again."""

    def __init__(self, socket: MLinkSocket, kind: str, request: dict[str, Any], ident: int,
                 types: set[str], queue_size: int) -> None:
        self._socket = socket
        self.kind = kind  # "MLinkStream" or "MLinkSubscribe"
        self.request = request
        self.ident = ident
        self.types = types  # lower-case message names routed here
        self._q: asyncio.Queue[StreamEvent | BaseException] = asyncio.Queue(queue_size)
        self.closed = False

    async def _put(self, item: StreamEvent | BaseException) -> None:
        if not self.closed:
            await self._q.put(item)

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[StreamEvent]:
        while True:
            item = await self.next_event()
            if item is None:
                return
            yield item

    async def next_event(self, timeout: float | None = None) -> StreamEvent | None:
        """The next event (None once the subscription has ended); raises ``MLinkError`` if the
        server refused the request, ``TimeoutError`` after ``timeout`` seconds of silence."""
        if self.closed and self._q.empty():
            return None
        item = await asyncio.wait_for(self._q.get(), timeout)
        if isinstance(item, BaseException):
            self.closed = True
            raise item
        return item

    async def records(self) -> AsyncIterator[Record]:
        """Only the data records' bodies."""
        async for ev in self:
            if ev.kind == RECORD:
                yield ev.message

    async def snapshot(self, timeout: float = 60.0) -> list[Record]:
        """The snapshot: the records between the ``Begin`` checkpoint and the checkpoint that
        ends it (``Complete`` for a stream, ``Active`` for a subscription)."""
        end = "Complete" if self.kind == "MLinkStream" else "Active"
        out: list[Record] = []
        async with asyncio.timeout(timeout):
            async for ev in self:
                if ev.kind == RECORD:
                    out.append(ev.message)
                elif ev.kind == CHECKPOINT and ev.state == "Begin":
                    out.clear()
                elif ev.kind == CHECKPOINT and ev.state == end:
                    return out
        raise MLinkConnectionError("the subscription ended before its snapshot did")

    async def close(self) -> None:
        """Unsubscribe (a stream: ``unsubscribe: Yes``; a subscription: its keys) and end."""
        await self._socket._end(self)


class MLinkSocket:
    """One WebSocket to an MLink server carrying any number of streams and subscriptions.

    >>> async with MLinkSocket("http://127.0.0.1:8080", KEY) as ml:
    ...     sub = await ml.stream("LiveImpliedQuote", where="ticker:eq:SPY-NMS-EQT",
    ...                           active_latency=500)
    ...     async for rec in sub.records(): ...

    When the connection drops (server restart, network) it reconnects with backoff (up to
    ``max_backoff`` seconds between tries) and sends every open request again; each of their
    iterators sees ``disconnected``, then ``reconnected`` and a fresh snapshot. A socket on which
    nothing arrives for ``idle_timeout`` seconds (MLink sends a heartbeat every 10 s) counts as
    dropped. A logon refused
    by the server (``MLinkAdmin`` ``LogonFailed``) ends every subscription with ``MLinkError``.
    ``framing`` is ``json`` (``/mlink/json``) or ``jsonf`` (``/mlink/jsonf``, framed JSON)."""

    def __init__(self, url: str, key: str, *, framing: str = "json", reconnect: bool = True,
                 max_backoff: float = 5.0, queue_size: int = 10_000,
                 idle_timeout: float = 35.0) -> None:
        self.endpoint = Endpoint(url)
        self.url = self.endpoint.websocket(framing)
        self.key = key
        self.framing = framing
        self.reconnect = reconnect
        self.max_backoff = max_backoff
        self.queue_size = queue_size
        self.idle_timeout = idle_timeout
        self.admin_state = ""
        self.connects = 0
        self._subs: dict[tuple[str, int], Subscription] = {}
        self._ids = itertools.count(1)
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self._failure: BaseException | None = None
        self._pending: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ life cycle
    async def __aenter__(self) -> MLinkSocket:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self, timeout: float = 30.0) -> None:
        """Open the socket and start reading; raises ``MLinkConnectionError`` if it cannot connect,
        ``MLinkError`` (``LogonFailed``) if the server refuses the key."""
        self._http = aiohttp.ClientSession()
        try:
            await asyncio.wait_for(self._open(), timeout)
        except MLinkError:
            await self._http.close()
            raise
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            await self._http.close()
            raise MLinkConnectionError(f"{self.url}: {e or type(e).__name__}") from e
        self._reader = asyncio.create_task(self._read_loop(), name=f"mlink-reader {self.url}")

    async def _open(self) -> None:
        assert self._http is not None
        self._ws = await self._http.ws_connect(
            self.url, headers={"Authorization": f"Bearer {self.key}"}, heartbeat=None,
            max_msg_size=0, autoping=True)
        # the server's first message is MLinkAdmin: a refused key fails here, at once
        try:
            first = await self._ws.receive(timeout=30)
            self._pending = []
            if first.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                self._pending = decode_frame(first.data, self.framing)
        except (TimeoutError, ValueError) as e:
            await self._ws.close()
            raise aiohttp.ClientError(f"no MLinkAdmin after connecting: {e or type(e).__name__}"
                                      ) from e
        for env in self._pending:
            m = env.get("message") or {}
            if env["header"].get("mTyp") == "MLinkAdmin" and m.get("state") == "LogonFailed":
                await self._ws.close()
                raise MLinkError("LogonFailed", str(m.get("detail", "")), "MLinkAdmin")
        self.connects += 1
        self._connected.set()

    async def close(self) -> None:
        """Close the socket; every open iterator ends."""
        self._closing = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()
        for sub in list(self._subs.values()):
            sub.closed = True
        self._subs.clear()

    # ------------------------------------------------------------------ requests
    async def stream(self, msg_name: str, *, where: str | None = None, view: str | None = None,
                     active_latency: int = 0, query_label: str | None = None,
                     highwater_ts: int | None = None, **extra: Any) -> Subscription:
        """Start an ``MLinkStream`` of ``msg_name`` (replacing this socket's earlier stream of
        that type, as the protocol does). ``active_latency`` 0: updates only on
        ``signal_ready()``; N >= 1: at most one record per key every N ms."""
        ident = next(self._ids)
        msg: dict[str, Any] = {"msgName": msg_name, "activeLatency": active_latency,
                               "queryID": ident}
        for k, v in (("where", where), ("view", view), ("queryLabel", query_label),
                     ("highwaterTs", highwater_ts)):
            if v is not None:
                msg[k] = v
        msg.update(extra)
        for key, old in list(self._subs.items()):  # the server replaces it: end ours too
            if old.kind == "MLinkStream" and old.types == {msg_name.lower()}:
                old.closed = True
                del self._subs[key]
        sub = Subscription(self, "MLinkStream", {"header": {"mTyp": "MLinkStream"},
                                                 "message": msg},
                           ident, {msg_name.lower()}, self.queue_size)
        self._subs[("MLinkStream", ident)] = sub
        await self._send(sub.request)
        return sub

    async def subscribe(self, keys: Iterable[tuple[str, str]], *, views: dict[str, str] | None = None,
                        active_latency: int = 0, compression: str | None = None) -> Subscription:
        """Start an ``MLinkSubscribe`` of exact keys: ``keys`` are ``(msgName, flat pkey)`` pairs;
        ``views`` maps a message name to its view."""
        pairs = list(keys)
        ident = next(self._ids)
        msg: dict[str, Any] = {"subscribeID": ident, "activeLatency": active_latency,
                               "Subscribe": [{"msgName": n, "msgPKey": k} for n, k in pairs]}
        if views:
            msg["View"] = [{"msgName": n, "view": v} for n, v in views.items()]
        if compression is not None:
            msg["compression"] = compression
        sub = Subscription(self, "MLinkSubscribe", {"header": {"mTyp": "MLinkSubscribe"},
                                                    "message": msg},
                           ident, {n.lower() for n, _ in pairs}, self.queue_size)
        self._subs[("MLinkSubscribe", ident)] = sub
        await self._send(sub.request)
        return sub

    async def signal_ready(self, read_scan: str = "Incremental", signal_id: int | None = None
                           ) -> None:
        """``MLinkSignalReady``: release one batch on every stream (``FullScan``: every
        matching record, changed or not)."""
        msg: dict[str, Any] = {"readyScan": read_scan}
        if signal_id is not None:
            msg["signalID"] = signal_id
        await self._send({"header": {"mTyp": "MLinkSignalReady"}, "message": msg})

    async def send(self, envelope: dict[str, Any]) -> None:
        """Send any envelope as it is (e.g. a data message; the server answers MLinkDataAck)."""
        await self._send(envelope)

    async def _end(self, sub: Subscription) -> None:
        self._subs.pop((sub.kind, sub.ident), None)
        sub.closed = True
        if self._ws is None or self._ws.closed:
            return
        if sub.kind == "MLinkStream":
            m = sub.request["message"]
            await self._send({"header": {"mTyp": "MLinkStream"},
                              "message": {"msgName": m["msgName"], "unsubscribe": "Yes",
                                          "queryID": sub.ident}})
        else:
            items = sub.request["message"]["Subscribe"]
            await self._send({"header": {"mTyp": "MLinkSubscribe"},
                              "message": {"subscribeID": sub.ident, "Unsubscribe": [
                                  {"msgName": i["msgName"], "msgPKey": i["msgPKey"]}
                                  for i in items]}})

    async def _send(self, env: dict[str, Any]) -> None:
        if self._failure is not None:
            raise self._failure
        await self._connected.wait()
        assert self._ws is not None
        try:
            await self._ws.send_str(encode_message(env, self.framing))
        except (ConnectionError, aiohttp.ClientError) as e:
            if not self.reconnect:
                raise MLinkConnectionError(f"{self.url}: {e}") from e
            # the reader notices the drop, reconnects and resends every open request
            log.info("send failed (%s); the request goes again after reconnecting", e)

    # ------------------------------------------------------------------ reading
    async def _read_loop(self) -> None:
        backoff = 0.1
        while True:
            reason = await self._read_socket()
            if self._closing:
                return
            self._connected.clear()
            if self._failure is not None or not self.reconnect:
                err = self._failure or MLinkConnectionError(f"{self.url}: {reason}")
                self._failure = err  # later requests raise it too
                for sub in list(self._subs.values()):
                    await sub._put(err)
                return
            for sub in list(self._subs.values()):
                await sub._put(StreamEvent(DISCONNECTED, "", {"detail": reason}))
            while True:
                await asyncio.sleep(backoff)
                try:
                    await asyncio.wait_for(self._open(), 40.0)
                    break
                except MLinkError as e:  # the key is refused now: end every subscription
                    self._failure = e
                    for sub in list(self._subs.values()):
                        await sub._put(e)
                    return
                except (aiohttp.ClientError, OSError, TimeoutError) as e:
                    log.info("reconnect to %s failed: %s", self.url, e)
                    backoff = min(self.max_backoff, backoff * 2)
            backoff = 0.1
            for sub in list(self._subs.values()):
                await sub._put(StreamEvent(RECONNECTED, ""))
                await self._send(sub.request)

    async def _read_socket(self) -> str:
        """Read the current socket to its end; the reason it ended."""
        ws = self._ws
        assert ws is not None
        for env in self._pending:
            await self._dispatch(env)
        self._pending = []
        try:
            while True:
                try:
                    msg = await ws.receive(timeout=self.idle_timeout)
                except TimeoutError:  # not even a heartbeat: the peer is gone without a FIN
                    await ws.close()
                    return f"nothing received for {self.idle_timeout:g} s"
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                                aiohttp.WSMsgType.CLOSED):
                    break
                if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    try:
                        envs = decode_frame(msg.data, self.framing)
                    except ValueError as e:
                        log.error("%s: unreadable frame dropped: %s", self.url, e)
                        continue
                    for env in envs:
                        await self._dispatch(env)
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    return f"socket error: {ws.exception()}"
        except (ConnectionError, aiohttp.ClientError) as e:
            return f"{type(e).__name__}: {e}"
        return f"closed by the server (code {ws.close_code})"

    async def _dispatch(self, env: dict[str, Any]) -> None:
        t = str(env["header"].get("mTyp", ""))
        m: Record = env.get("message") or {}
        if t == "MLinkAdmin":
            self.admin_state = str(m.get("state", ""))
            if self.admin_state == "LogonFailed":
                self._failure = MLinkError("LogonFailed", str(m.get("detail", "")), "MLinkAdmin")
            return
        if t == "MLinkHeartbeat":
            return
        if t in ("MLinkStreamAck", "MLinkStreamCheckPt"):
            sub = self._subs.get(("MLinkStream", int(m.get("queryID", 0))))
            await self._control(sub, t, m, "MLinkStreamAck")
            return
        if t in ("MLinkSubscribeAck", "MLinkSubscribeCheckPt"):
            sub = self._subs.get(("MLinkSubscribe", int(m.get("subscribeID", 0))))
            await self._control(sub, t, m, "MLinkSubscribeAck")
            return
        if t == "MLinkDataAck":
            if m.get("result") != "OK":
                log.warning("MLinkDataAck %s: %s", m.get("result"), m.get("detail", ""))
            return
        low = t.lower()
        for sub in list(self._subs.values()):
            if low in sub.types:
                await sub._put(StreamEvent(RECORD, t, m))

    async def _control(self, sub: Subscription | None, t: str, m: Record, ack: str) -> None:
        if sub is None:  # an ended request's late ack or checkpoint
            return
        if t == ack:
            if sub.kind == "MLinkStream":
                ok, detail = m.get("result") == "OK", str(m.get("detail", ""))
                result = str(m.get("result", "None"))
            else:
                bad = [i for i in m.get("Subscribe", []) + m.get("View", [])
                       if i.get("result", "OK") != "OK"]
                ok = m.get("succeeded", "Yes") == "Yes" and not bad
                result = "Error" if ok else str(bad[0].get("result") if bad else "Error")
                detail = str(m.get("errorMsg") or (bad[0].get("detail", "") if bad else ""))
            if not ok:
                self._subs.pop((sub.kind, sub.ident), None)
                await sub._put(MLinkError(result, detail, ack))
                return
            await sub._put(StreamEvent(ACK, t, m))
            return
        await sub._put(StreamEvent(CHECKPOINT, t, m))
        if m.get("state") in ("Replaced", "Terminated"):
            self._subs.pop((sub.kind, sub.ident), None)
            sub.closed = True
