"""The web dashboard: static pages at ``/`` (no data and no key in them: the page asks for a key
and reads everything over ``/mlink/json`` as any MLink client does)."""

from __future__ import annotations

from importlib import resources

from aiohttp import web

__all__ = ["add_dashboard"]

_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


def _assets() -> dict[str, bytes]:
    root = resources.files(__package__) / "static"
    out: dict[str, bytes] = {}
    for f in root.iterdir():
        suffix = "." + f.name.rsplit(".", 1)[-1]
        if f.is_file() and suffix in _TYPES:
            out[f.name] = f.read_bytes()
    if "index.html" not in out:
        raise FileNotFoundError(f"dashboard assets missing from {root}")
    return out


def add_dashboard(app: web.Application) -> None:
    """Serve the dashboard at ``/`` and its assets at ``/static/NAME`` (read once, from the
    package; a name not shipped is 404)."""
    assets = _assets()

    def reply(name: str) -> web.Response:
        body = assets.get(name)
        if body is None:
            raise web.HTTPNotFound(text=f"no dashboard asset {name!r}")
        ctype = _TYPES["." + name.rsplit(".", 1)[-1]]
        return web.Response(body=body, content_type=ctype, charset="utf-8",
                            headers={"Cache-Control": "no-cache"})

    async def index(_request: web.Request) -> web.Response:
        return reply("index.html")

    async def static(request: web.Request) -> web.Response:
        return reply(request.match_info["name"])

    app.router.add_route("GET", "/", index)
    app.router.add_route("GET", "/static/{name}", static)
