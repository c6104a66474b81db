"""Plain and framed JSON on the WebSocket (mlink-protocol.md 1.3).

Framed JSON (``/mlink/jsonf``) prefixes each message with 14 bytes: ``\\r\\n`` + ``J`` + the
5-digit message number + the 6-digit payload length; one WebSocket frame may hold several."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["decode_frame", "encode_message"]

_HEADER = 14


def encode_message(env: dict[str, Any], framing: str) -> str:
    """One envelope as the text of one WebSocket frame (message number 00000 in a frame
    header: the server reads the type from ``header.mTyp``, as official clients expect)."""
    payload = json.dumps(env, separators=(",", ":"))
    if framing == "json":
        return payload
    n = len(payload.encode())
    if n > 999_999:
        raise ValueError(f"a framed JSON message holds at most 999999 bytes, not {n}")
    return f"\r\nJ00000{n:06d}{payload}"


def decode_frame(data: str | bytes, framing: str) -> list[dict[str, Any]]:
    """The envelopes of one received WebSocket frame; ValueError says what is malformed."""
    raw = data.encode() if isinstance(data, str) else data
    if framing == "json":
        return [_envelope(raw)]
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(raw):
        head = raw[i:i + _HEADER]
        if len(head) < _HEADER or head[:2] != b"\r\n" or head[2:3] != b"J":
            raise ValueError(f"framed JSON: no frame header at byte {i}: {head!r}")
        try:
            n = int(head[8:14])
        except ValueError:
            raise ValueError(f"framed JSON: bad length in frame header {head!r}") from None
        end = i + _HEADER + n
        if end > len(raw):
            raise ValueError(f"framed JSON: frame at byte {i} claims {n} bytes, "
                             f"{len(raw) - i - _HEADER} remain")
        out.append(_envelope(raw[i + _HEADER:end]))
        i = end
    return out


def _envelope(payload: bytes) -> dict[str, Any]:
    doc = json.loads(payload)
    if not isinstance(doc, dict) or not isinstance(doc.get("header"), dict):
        raise ValueError(f"not a message envelope: {payload[:80]!r}")
    return doc
