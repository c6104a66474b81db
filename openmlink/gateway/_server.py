"""The HTTP shell around the sans-I/O REST API (aiohttp; one port for REST and WebSocket)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from ._rest import RestApi

__all__ = ["make_app", "run_server"]

log = logging.getLogger("openmlink.gateway")


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The request body, or None when it exceeds ``limit`` bytes (never buffered past it)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def make_app(rest: RestApi) -> web.Application:
    app = web.Application(client_max_size=rest.config.max_body_bytes + 1)
    limit = rest.config.max_body_bytes

    async def rest_json(request: web.Request) -> web.StreamResponse:
        body = b""
        if request.method == "POST":
            got = await _read_body(request, limit)
            if got is None:
                # answered in the protocol's own error record; the body is not read further
                status, out = rest.handle("POST", list(request.query.items()),
                                          request.headers, None)
                resp = web.Response(status=status, body=out, content_type="application/json")
                resp.force_close()
                return resp
            body = got
        status, out = rest.handle(request.method, list(request.query.items()),
                                  request.headers, body)
        return web.Response(status=status, body=out, content_type="application/json")

    app.router.add_route("GET", "/rest/json", rest_json)
    app.router.add_route("POST", "/rest/json", rest_json)
    return app


def run_server(app: web.Application, host: str, port: int) -> None:
    try:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop is a dependency, but stay runnable
        pass
    web.run_app(app, host=host, port=port, print=None, access_log=None)
