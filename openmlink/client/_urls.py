"""Endpoint URLs from one base URL."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["Endpoint"]

_PATHS = ("/rest/json", "/rest/jsonf", "/mlink/json", "/mlink/jsonf")


class Endpoint:
    """The REST and WebSocket URLs of one MLink server.

    ``url`` is the server's base (``http://127.0.0.1:8080``) or any of its endpoint URLs
    (``https://host/rest/json``, ``wss://host/mlink/json``): the scheme pair (http/ws or
    https/wss) and the host are kept, the path is replaced."""

    def __init__(self, url: str) -> None:
        if "://" not in url:
            url = "http://" + url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
            raise ValueError(f"{url!r} is not an http(s):// or ws(s):// URL with a host")
        secure = parts.scheme in ("https", "wss")
        base = parts.path.rstrip("/")
        for p in _PATHS:
            if base.endswith(p):
                base = base[: -len(p)]
                break
        self.host = parts.hostname or "127.0.0.1"
        self.secure = secure
        self._http = urlunsplit(("https" if secure else "http", parts.netloc, base, "", ""))
        self._ws = urlunsplit(("wss" if secure else "ws", parts.netloc, base, "", ""))

    @property
    def base(self) -> str:
        """``http(s)://host[:port][/prefix]`` (where the dashboard is served)."""
        return self._http

    def rest(self) -> str:
        return self._http + "/rest/json"

    def websocket(self, framing: str = "json") -> str:
        if framing not in ("json", "jsonf"):
            raise ValueError(f"framing {framing!r}: json or jsonf")
        return f"{self._ws}/mlink/{framing}"

    def __repr__(self) -> str:
        return f"Endpoint({self._http!r})"
