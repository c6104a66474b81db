"""The I/O shell: aiohttp serving REST (``/rest/json``, ``/rest/jsonf``) and WebSocket
(``/mlink/json``, ``/mlink/jsonf``) on one port. It only moves bytes and owns timers; the
protocol lives in ``_rest`` and ``_session``, the framings in ``_frames``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from aiohttp import WebSocketError, WSCloseCode, WSMsgType, web

from ..gcpolicy import GcPolicy
from ._auth import AuthError, bearer_token
from ._frames import JSON, JSONF
from ._http import HttpLimits, ProtocolRunner, install
from ._rest import RestApi
from ._session import Hub, MLinkSession

__all__ = ["HUB", "log_task_failure", "make_app", "run_server", "spawn"]

#: the application's WebSocket hub
HUB = web.AppKey("hub", Hub)
#: seconds a socket closed for a protocol error (a message over the frame limit) keeps reading
#: and dropping what its client still sends, so the close frame reaches the client (inferred)
LINGER_S = 2.0


class _WebSocket(web.WebSocketResponse):
    """aiohttp's WebSocket, closed without a TCP reset after a protocol error.

    aiohttp answers a message over ``max_msg_size`` with a close frame (1009) and closes the
    socket at once; the client is usually still sending that message, so the kernel resets
    the connection (unread data) and the client's write fails before it reads the close
    frame: it sees 1006, not why.  Here such a socket half-closes (FIN after the close frame),
    drops what the client still sends, and closes when the client does or after
    ``LINGER_S``."""

    def _close_transport(self) -> None:
        exc = getattr(self, "_exception", None)
        req = getattr(self, "_req", None)
        if isinstance(exc, WebSocketError) and req is not None:
            proto = req.protocol
            transport = proto.transport
            if transport is not None and not transport.is_closing():
                proto.transport = None  # aiohttp would close it when the handler returns
                _linger(transport, LINGER_S)
                return
        super()._close_transport()


def _linger(transport: asyncio.BaseTransport, seconds: float) -> None:
    """Half-close ``transport`` (what is queued, then FIN), keep reading (the protocol drops
    the bytes), close it after ``seconds`` unless the peer closed first."""
    with contextlib.suppress(Exception):
        if isinstance(transport, asyncio.Transport) and transport.can_write_eof():
            transport.write_eof()
        if isinstance(transport, asyncio.ReadTransport):
            transport.resume_reading()
    asyncio.get_running_loop().call_later(seconds, transport.close)

log = logging.getLogger("openmlink.gateway")


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The request body, or None when it exceeds ``limit`` bytes (never buffered past it)."""
    n = request.content_length
    if n is not None:
        if n > limit:
            return None
        return await request.read()  # a known length within the limit: read at once
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def log_task_failure(task: asyncio.Task[Any]) -> None:
    """Done-callback of every background task: a failure is logged with the task's name (a
    client that went away is only worth an INFO line)."""
    if task.cancelled():
        return
    e = task.exception()
    if e is None:
        return
    if isinstance(e, ConnectionError):
        log.info("%s: connection lost (%s: %s)", task.get_name(), type(e).__name__, e)
    else:
        log.error("%s failed: %s: %s", task.get_name(), type(e).__name__, e, exc_info=e)


def spawn(coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
    """``asyncio.create_task`` whose failure is never silent (``log_task_failure``)."""
    task = asyncio.create_task(coro, name=name)
    task.add_done_callback(log_task_failure)
    return task


async def _closing_on_failure(coro: Coroutine[Any, Any, None], ws: web.WebSocketResponse,
                              readable: asyncio.Event) -> None:
    """Run a session task; if it fails, log the failure with the task's name and close the
    socket (1011) so that the client learns of it and the reader stops. (Logged here, not by
    the done-callback: the reader cancels this task while the close handshake runs.)"""
    try:
        await coro
    except ConnectionError:
        readable.set()
        raise
    except Exception as e:
        task = asyncio.current_task()
        name = task.get_name() if task is not None else "websocket task"
        log.error("%s failed: %s: %s", name, type(e).__name__, e, exc_info=e)
        readable.set()
        if not ws.closed:
            try:
                await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"internal error")
            except ConnectionError as ce:
                log.info("%s: connection lost while closing (%s)", name, ce)


def _who(request: web.Request, session: MLinkSession) -> str:
    p = session.principal
    return f"{request.remote or '?'} {p.user_name if p is not None else '(not logged on)'}"


def make_app(rest: RestApi, hub: Hub | None = None, limits: HttpLimits | None = None) -> web.Application:
    """The aiohttp application; serve it with ``ProtocolRunner`` to apply ``limits``."""
    app = web.Application(client_max_size=rest.config.max_body_bytes + 1)
    install(app, rest, limits or HttpLimits())
    limit = rest.config.max_body_bytes
    if hub is None:
        hub = Hub(rest.reg, rest.store, rest.keys, rest.clock, post=rest.post_record,
                  encoders=rest.encoders)
    app[HUB] = hub

    async def rest_json(request: web.Request) -> web.StreamResponse:
        return await _rest(request, False)

    async def rest_jsonf(request: web.Request) -> web.StreamResponse:
        return await _rest(request, True)

    async def _rest(request: web.Request, framed: bool) -> web.StreamResponse:
        body: bytes | None = b""
        if request.method == "POST":
            body = await _read_body(request, limit)
        if rest.durable is None:
            status, out = rest.handle(request.method, list(request.query.items()), request.headers,
                                      body, framed=framed)
        else:  # a post is answered once JetStream acknowledged it
            status, out = await rest.handle_async(request.method, list(request.query.items()),
                                                  request.headers, body, framed=framed)
        # (inferred) framed answers are bytes, not one JSON document
        resp = web.Response(status=status, body=out,
                            content_type="application/octet-stream" if framed else "application/json")
        if body is None:
            resp.force_close()  # the unread body is not drained
        return resp

    async def mlink_json(request: web.Request) -> web.StreamResponse:
        return await _websocket(request, hub, JSON)

    async def mlink_jsonf(request: web.Request) -> web.StreamResponse:
        return await _websocket(request, hub, JSONF)

    app.router.add_route("GET", "/rest/json", rest_json)
    app.router.add_route("POST", "/rest/json", rest_json)
    app.router.add_route("GET", "/rest/jsonf", rest_jsonf)
    app.router.add_route("POST", "/rest/jsonf", rest_jsonf)
    app.router.add_route("GET", "/mlink/json", mlink_json)
    app.router.add_route("GET", "/mlink/jsonf", mlink_jsonf)
    return app


class _Wire:
    """Writes the session's bytes (WebSocket frames already built) to the socket: one write per
    pull, whatever the number of records in it; waits while the transport's buffer is over its
    high-water mark (a slow reader stops being pulled, so its streams conflate)."""

    def __init__(self, request: web.Request) -> None:
        transport = request.transport
        if transport is None:
            raise ConnectionResetError("connection lost before the WebSocket handshake ended")
        self.transport = transport
        self.protocol = request.protocol

    async def write(self, chunks: list[bytes]) -> None:
        if self.transport.is_closing() or self.protocol.transport is None:  # None: lingering
            raise ConnectionResetError("cannot write to a closing transport")
        self.transport.writelines(chunks)
        if self.protocol.writing_paused:
            # aiohttp's own flow-control wait (what ws.send_frame awaits); resumes on drain
            await self.protocol._drain_helper()


async def _websocket(request: web.Request, hub: Hub, framing: str) -> web.StreamResponse:
    """A WebSocket session on ``framing`` (JSON: one message per text frame; JSONF: framed
    messages, several per binary frame)."""
    clock = hub.clock
    token = (bearer_token(request.headers.get("Authorization")) or request.query.get("apiKey")
             or request.query.get("apikey"))
    principal, err = None, None
    if token:
        try:
            principal = hub.keys.authenticate(token, None)
        except AuthError as e:
            err = str(e)
    ws = _WebSocket(max_msg_size=hub.config.max_frame_bytes, compress=False,
                               autoping=True)
    await ws.prepare(request)
    wire = _Wire(request)
    session = MLinkSession(hub, principal, err, framing=framing)
    wake = asyncio.Event()
    session.notify = wake.set
    readable = asyncio.Event()
    readable.set()

    async def writer() -> None:
        while True:
            wake.clear()
            now = clock.time_ns()
            chunks = session.pull(now)
            if chunks:
                await wire.write(chunks)  # one write; waits while a slow client's buffer is full
            if session.wants_input:
                readable.set()
            if session.closed:
                await ws.close(message=session.close_reason.encode()[:120])
                return
            if chunks or session.has_work(clock.time_ns()):
                await asyncio.sleep(0)
                continue
            due = session.next_due_ns()
            timeout = None if due is None else max(0.0, (due - clock.time_ns()) / 1e9)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(hub.config.heartbeat_s)
            session.heartbeat(clock.time_ns())
            wake.set()

    who = _who(request, session)
    tasks = [spawn(_closing_on_failure(writer(), ws, readable), f"ws-writer {who}"),
             spawn(_closing_on_failure(heartbeat(), ws, readable), f"ws-heartbeat {who}")]
    try:
        async for msg in ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            if framing == JSONF:
                session.receive_framed(msg.data, clock.time_ns())
            else:
                session.receive(msg.data, clock.time_ns())
            wake.set()
            if not session.wants_input:
                readable.clear()
                await readable.wait()  # stop reading until the outbox drains
            if tasks[0].done():
                break
    finally:
        for t in tasks:
            t.cancel()
        # failures were logged by the tasks' done-callbacks; cancellation is the normal end
        await asyncio.gather(*tasks, return_exceptions=True)
        session.close()
    return ws


def run_server(app: web.Application, host: str, port: int) -> None:
    try:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop is a dependency, but stay runnable
        pass

    async def serve() -> None:
        runner = ProtocolRunner(app, access_log=None)
        await runner.setup()
        gc_task = asyncio.create_task(policy.run(), name="gc policy")
        try:
            await web.TCPSite(runner, host, port, backlog=runner.limits.listen_backlog).start()
            await asyncio.Event().wait()  # until cancelled (Ctrl-C)
        finally:
            gc_task.cancel()
            await runner.cleanup()

    # Startup objects (schemas, compiled kernels, engines) never die; a full collection walking
    # them all stalled the event loop ~100-300 ms here (publish->client p99). Frozen, they are
    # left out of every collection; later survivors are frozen by the policy's steps.
    policy = GcPolicy()
    policy.start()
    asyncio.run(serve())
