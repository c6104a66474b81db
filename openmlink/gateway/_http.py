"""HTTP-level limits and refusals in protocol form.

Everything the server refuses before a command runs is answered as the REST API answers: a
JSON array ending in a ``QueryResult`` (never aiohttp's plain text):

* routing (404, 405), WebSocket upgrade failures, bodies over the limit: the
  ``protocol_errors`` middleware; an unexpected exception in a handler is logged with its
  traceback and answered ``result: MLinkError`` (500);
* what aiohttp refuses while parsing (a URL over ``max_url_bytes`` -> 414, a header over
  ``max_header_bytes`` -> 431, bytes that are not HTTP -> 400): ``_ProtocolHandler.handle_error``;
* a connection over ``max_connections``: the oldest connection that has not yet sent a
  whole request is closed to make room; when every connection is busy the newcomer gets a 503
  ``QueryResult`` and is closed.

A connection that does not finish its request head within ``idle_timeout_s`` (slowloris), or
sits idle between requests that long, is closed (aiohttp's keep-alive timer, which starts
when the connection is made).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.typedefs import Middleware

from ._rest import RestApi

__all__ = ["HTTP_LIMITS", "HttpLimits", "ProtocolRunner", "protocol_errors", "refusal"]

log = logging.getLogger("openmlink.gateway")


class HttpLimits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Request and connection limits of the HTTP server (``openmlink serve`` options)."""

    #: longest URL (path and query string); a 10,000-key ``okey:eq:`` chain is ~500 KB encoded
    max_url_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 1 << 20
    #: longest header line (name or value)
    max_header_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 16 * 1024
    #: open connections (REST and WebSocket together); each costs a file descriptor
    max_connections: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    #: seconds a connection may take to send its request head, or stay idle between requests
    idle_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    #: connections the kernel queues before the server accepts them (bursts of connects)
    listen_backlog: Annotated[int, msgspec.Meta(ge=1)] = 1024


#: the application's limits (``make_app`` stores them; ``ProtocolRunner`` reads them)
HTTP_LIMITS = web.AppKey("http_limits", HttpLimits)
_REST = web.AppKey("rest_api", RestApi)


def refusal(rest: RestApi, status: int, result: str, detail: str) -> web.Response:
    """An HTTP answer in protocol form: ``[QueryResult]`` with ``result`` and ``detail``."""
    return web.Response(status=status, body=rest.refusal(result, detail),
                        content_type="application/json")


class _Gate:
    """Counts the server's connections and keeps the ones that have not yet sent a whole
    request, oldest first (the ones to close when the server is full)."""

    def __init__(self, rest: RestApi, limits: HttpLimits) -> None:
        self.rest = rest
        self.limits = limits
        self.open = 0
        self.refused = 0
        self.evicted = 0
        self.silent: OrderedDict[int, _ProtocolHandler] = OrderedDict()

    def admit(self, h: _ProtocolHandler) -> bool:
        """A new connection: True to serve it (closing the oldest silent one if full)."""
        if self.open >= self.limits.max_connections:
            while self.silent:
                _, old = self.silent.popitem(last=False)
                if old.transport is not None and not old.transport.is_closing():
                    self.evicted += 1
                    old.force_close()  # closes its transport
                    break
            else:
                self.refused += 1
                return False
        self.open += 1
        self.silent[id(h)] = h
        return True

    def spoke(self, h: Any) -> None:
        self.silent.pop(id(h), None)

    def gone(self, h: _ProtocolHandler) -> None:
        self.open -= 1
        self.silent.pop(id(h), None)


class _ProtocolHandler(web.RequestHandler):
    """aiohttp's connection protocol, answering its own refusals in protocol form."""

    gate: _Gate
    admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self.gate.admit(self):
            body = self.gate.rest.refusal(
                "TransportError", f"server busy: {self.gate.limits.max_connections} connections "
                                  "open (max_connections); try again later")
            head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
            assert isinstance(transport, asyncio.Transport)
            transport.write(head + body)
            transport.close()
            return
        self.admitted = True
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.admitted:
            return
        self.gate.gone(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.admitted:
            super().data_received(data)

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        limits = self.gate.limits
        if isinstance(exc, LineTooLong) and len(exc.args) > 1 and exc.args[1] == limits.max_url_bytes:
            status, result = 414, "TransportError"
            detail = f"request: URL longer than {limits.max_url_bytes} bytes (max_url_bytes)"
        elif isinstance(exc, LineTooLong):
            status, result = 431, "TransportError"
            detail = f"request: a header longer than {limits.max_header_bytes} bytes (max_header_bytes)"
        elif status >= 500:
            result = "MLinkError"
            detail = f"internal error ({type(exc).__name__ if exc else 'unknown'}); logged by the server"
            log.error("HTTP request from %s failed", getattr(request, "remote", "?"), exc_info=exc)
        else:
            result = "TransportError"
            text = message or (str(exc) if exc else "")
            why = text.strip().splitlines()[0][:200] if text.strip() else ""
            detail = "request: not a valid HTTP request" + (f" ({why})" if why else "")
        if status < 500:
            log.info("refused a request from %s: %s", getattr(request, "remote", "?"), detail)
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send the error")
        resp = refusal(self.gate.rest, status, result, detail)
        resp.force_close()
        return resp


class _ProtocolServer:
    """aiohttp's ``Server`` (the protocol factory of the listening socket), making
    ``_ProtocolHandler`` connections; every other attribute is the wrapped server's."""

    def __init__(self, inner: web.Server, gate: _Gate) -> None:
        self._inner = inner
        self.gate = gate

    def __call__(self) -> web.RequestHandler:
        h = _ProtocolHandler(self._inner, loop=self._inner._loop, **self._inner._kwargs)
        h.gate = self.gate
        return h

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class ProtocolRunner(web.AppRunner):
    """``web.AppRunner`` for an app of ``make_app``: applies its ``HttpLimits`` to the HTTP
    parser and the connections, and answers the parser's refusals in protocol form."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        limits = app[HTTP_LIMITS]
        kwargs.setdefault("max_line_size", limits.max_url_bytes)
        kwargs.setdefault("max_field_size", limits.max_header_bytes)
        kwargs.setdefault("keepalive_timeout", limits.idle_timeout_s)
        super().__init__(app, **kwargs)
        self.limits = limits
        self.gate = _Gate(app[_REST], limits)

    async def _make_server(self) -> web.Server:
        inner = await super()._make_server()
        return _ProtocolServer(inner, self.gate)  # type: ignore[return-value]


def protocol_errors(rest: RestApi, limits: HttpLimits) -> Middleware:
    """The middleware answering every HTTP error of a handler (or of routing) in protocol
    form; it also marks the connection as having spoken (see ``_Gate``)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
        proto = request.protocol
        gate = getattr(proto, "gate", None)
        if gate is not None:
            gate.spoke(proto)
        where = f"{request.method} {request.path}"
        try:
            return await handler(request)
        except web.HTTPException as e:
            if e.status < 400:
                raise
            if e.status == 404:
                detail = f"{where}: no such endpoint (REST: /rest/json, WebSocket: /mlink/json)"
            elif e.status == 405:
                allowed = ", ".join(sorted(getattr(e, "allowed_methods", ()) or ()))
                detail = f"{where}: method not allowed (allowed: {allowed or 'none'})"
            elif e.status == 413:
                detail = f"{where}: body over the limit of {rest.config.max_body_bytes} bytes"
            else:
                detail = f"{where}: {e.text or e.reason}"
            result = "AuthError" if e.status in (401, 403) else "Error"
            return refusal(rest, e.status, result, detail)
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception as e:
            log.error("%s from %s failed: %s: %s", where, request.remote, type(e).__name__, e,
                      exc_info=e)
            return refusal(rest, 500, "MLinkError",
                           f"{where}: internal error ({type(e).__name__}); logged by the server")

    return middleware


def install(app: web.Application, rest: RestApi, limits: HttpLimits) -> None:
    """Give ``app`` the limits and the protocol-form middleware (``make_app`` calls this)."""
    app[HTTP_LIMITS] = limits
    app[_REST] = rest
    app.middlewares.append(protocol_errors(rest, limits))
