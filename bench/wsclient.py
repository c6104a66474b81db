"""What the WebSocket benches (``bench_ws.py``, ``soak.py``) share: a free loopback port, a
process's RSS and CPU seconds, the load average, MLink requests in either framing, and the
envelopes of a received frame."""

from __future__ import annotations

import json
import os
import socket

import orjson

__all__ = ["cpu_s", "envelopes", "free_port", "load", "request", "rss_mib", "send"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    """Resident set size of process ``pid`` in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def request(transport: str, mtype: str, **message: object) -> str | bytes:
    """One MLink request: the JSON envelope (a text frame) on json; on jsonf one framed message
    (a binary frame: the 14-byte header, message number 00000 -- the server reads the type from
    ``header.mTyp`` -- then the envelope)."""
    text = json.dumps({"header": {"mTyp": mtype}, "message": message})
    if transport == "jsonf":
        payload = text.encode()
        return b"\r\nJ00000%06d" % len(payload) + payload
    return text


async def send(ws: object, transport: str, mtype: str, **message: object) -> None:
    """Send ``request(...)`` on an aiohttp client WebSocket ``ws``."""
    r = request(transport, mtype, **message)
    if isinstance(r, bytes):
        await ws.send_bytes(r)  # type: ignore[attr-defined]
    else:
        await ws.send_str(r)  # type: ignore[attr-defined]


def envelopes(data: str | bytes, transport: str) -> list[dict]:  # type: ignore[type-arg]
    """The envelopes of one received WebSocket frame (json: one; jsonf: each after its 14-byte
    header, checked: a header that does not parse or a length that overruns raises ValueError)."""
    raw = data.encode() if isinstance(data, str) else data
    if transport == "json":
        return [orjson.loads(raw)]
    out, pos = [], 0
    while pos < len(raw):
        head = raw[pos:pos + 14]
        if len(head) < 14 or head[:3] != b"\r\nJ" or not head[3:].isdigit():
            raise ValueError(f"jsonf: bad frame header at byte {pos}: {head!r}")
        end = pos + 14 + int(head[8:])
        if end > len(raw):
            raise ValueError(f"jsonf: frame at byte {pos} overruns the WebSocket frame")
        out.append(orjson.loads(raw[pos + 14:end]))
        pos = end
    return out
