"""Wire framing of the WebSocket and REST transports (spec 1.1, 1.3), control records, and what
the session parts need from the session that owns them.

Three framings of the same envelopes (``{"header": {"mTyp": ...}, "message": {...}}``):

* ``ENVELOPE``: the bare envelopes, one per item (the sans-I/O session's default, and REST json);
* ``JSON`` (``/mlink/json``): each item is a complete WebSocket text frame holding one envelope;
* ``JSONF`` (``/mlink/jsonf``, ``/rest/jsonf``): each envelope is preceded by the 14-byte frame
  header ``\\r\\nJ`` + 5-digit message number + 6-digit payload length; on a WebSocket several
  of them share one binary frame (MLink's own clients split a frame's bytes on ``\\r\\n`` and
  parse what follows the 12 header characters, so a frame always ends on a message boundary).

Encoders cache a record's bytes already framed, so sending is joining cached bytes; the
helpers here build the few headers that remain (one per WebSocket frame).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import orjson

from ..schema import Registry, fitted
from ._auth import Principal

__all__ = ["ENVELOPE", "JSON", "JSONF", "JSONF_HEADER", "JSONF_MAX_PAYLOAD", "FrameError",
           "SessionOwner", "Watcher", "control", "envelope_type", "fitted", "frame_envelopes", "jsonf_header",
           "jsonf_messages", "jsonf_ws_frames", "ws_header"]

ENVELOPE = "envelope"
JSON = "json"
JSONF = "jsonf"

JSONF_HEADER = 14  # \r\n + protocol letter + 5-digit message number + 6-digit length
JSONF_MAX_PAYLOAD = 999_999  # the largest length 6 digits can carry

_OP_TEXT = 0x81  # FIN + text
_OP_BINARY = 0x82  # FIN + binary
_LEN2 = struct.Struct("!BBH").pack
_LEN8 = struct.Struct("!BBQ").pack
_ENV_PREFIX = b'{"header":{"mTyp":"'


class FrameError(ValueError):
    """A framed-JSON header that cannot be parsed; the message names where and why."""


def control(name: str, body: dict[str, Any]) -> bytes:
    """An MLink control record, empty and zero fields left out.

    Returned as bytes of their own size (``fitted``): a control record may wait in a session's
    outbox while its client does not read."""
    body = {k: v for k, v in body.items() if v not in (0, "", None, [], "None")}
    return fitted(orjson.dumps({"header": {"mTyp": name}, "message": body}))


def envelope_type(env: bytes) -> str:
    """The ``header.mTyp`` of an envelope written by this package (header first)."""
    if not env.startswith(_ENV_PREFIX):
        raise ValueError("not an envelope of this package: header.mTyp must come first")
    end = env.index(b'"', len(_ENV_PREFIX))
    return env[len(_ENV_PREFIX):end].decode()


def ws_header(n: int, binary: bool) -> bytes:
    """The header of an unmasked (server) WebSocket frame with an ``n``-byte payload."""
    op = _OP_BINARY if binary else _OP_TEXT
    if n < 126:
        return bytes((op, n))
    if n < 65536:
        return _LEN2(op, 126, n)
    return _LEN8(op, 127, n)


def jsonf_header(msg_num: int, n: int) -> bytes:
    """The 14-byte framed-JSON header of an ``n``-byte payload of message type ``msg_num``."""
    if not 0 <= msg_num <= 99_999:
        raise ValueError(f"message number {msg_num} does not fit 5 digits")
    if not 0 <= n <= JSONF_MAX_PAYLOAD:
        raise ValueError(f"payload of {n} bytes does not fit the 6-digit length")
    return b"\r\nJ%05d%06d" % (msg_num, n)


def frame_envelopes(envs: Sequence[bytes], reg: Registry) -> bytes:
    """Envelopes one after the other, each after its framed-JSON header (a REST answer). An
    envelope too long for the 6-digit length is replaced by a QueryResult saying so (inferred)."""
    out = []
    for env in envs:
        name = envelope_type(env)
        if len(env) > JSONF_MAX_PAYLOAD:
            env = control("QueryResult", {"result": "Error", "detail": f"a {len(env)}-byte {name} record "
                                          f"exceeds the {JSONF_MAX_PAYLOAD}-byte frame length; not sent"})
            name = "QueryResult"
        mt = reg.get(name)
        out.append(jsonf_header(mt.id if mt is not None else 0, len(env)))
        out.append(env)
    return b"".join(out)


def jsonf_ws_frames(units: Sequence[bytes] | np.ndarray, sizes: np.ndarray, cap: int) -> list[bytes]:
    """Binary WebSocket frames carrying ``units`` (framed messages of ``sizes`` bytes), several
    per frame up to ``cap`` payload bytes (a message larger than ``cap`` gets its own frame).
    The groups are found on the cumulative sizes: no Python work per message but the join."""
    n = len(sizes)
    if n == 0:
        return []
    ends = np.cumsum(sizes, dtype=np.int64)
    out: list[bytes] = []
    start, base = 0, 0
    while start < n:
        stop = int(np.searchsorted(ends, base + cap, side="right"))
        stop = max(stop, start + 1)
        size = int(ends[stop - 1]) - base
        chunk = units[start:stop]
        body = b"".join(chunk.tolist() if isinstance(chunk, np.ndarray) else chunk)
        out.append(ws_header(size, True) + body)
        base = int(ends[stop - 1])
        start = stop
    return out


def jsonf_messages(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(message number, payload) of each framed message in ``data`` (one WebSocket frame or a
    REST body). Raises ``FrameError`` at the first header that does not parse; the messages
    before it have been yielded."""
    pos, n = 0, len(data)
    while pos < n:
        head = data[pos:pos + JSONF_HEADER]
        if len(head) < JSONF_HEADER:
            raise FrameError(f"byte {pos}: {len(head)} bytes left, a frame header needs {JSONF_HEADER}")
        if head[:2] != b"\r\n":
            raise FrameError(f"byte {pos}: a frame header starts with \\r\\n, got {head[:2]!r}")
        letter = head[2:3]
        if letter == b"P":
            raise FrameError(f"byte {pos}: protobuf payloads ('P') are not accepted on a JSON transport")
        if letter != b"J":
            raise FrameError(f"byte {pos}: protocol letter must be 'J', got {letter!r}")
        digits = head[3:]
        if not digits.isdigit():
            raise FrameError(f"byte {pos}: message number and length must be 11 digits, got {digits!r}")
        num, size = int(digits[:5]), int(digits[5:])
        body = data[pos + JSONF_HEADER:pos + JSONF_HEADER + size]
        if len(body) < size:
            raise FrameError(f"byte {pos}: header announces {size} payload bytes, {len(body)} follow")
        yield num, body
        pos += JSONF_HEADER + size


class SessionOwner(Protocol):
    """The session a stream or subscription set belongs to."""

    principal: Principal | None
    framing: str  # ENVELOPE, JSON or JSONF
    frame_limit: int  # the largest envelope this session's framing can send

    def queue(self, frame: bytes) -> None:
        """Send ``frame`` (in order with everything else the session sends)."""

    def emit(self, units: np.ndarray, sizes: np.ndarray) -> None:
        """Send stream records: ``units`` already framed for ``framing`` (object array of
        bytes), their envelope sizes in ``sizes``."""

    def rewake(self) -> None:
        """Ask for another ``pull`` (work is left, or changes wait for a later cycle)."""

    def data_ack(self, msg_type: int, result: str, detail: str, sent_ts: int = 0) -> None:
        """An MLinkDataAck."""

    def on_change(self) -> None:
        """A watched table changed."""


class Watcher(Protocol):
    """What ``Hub.watch`` registers: told when a watched table changes (or goes stale)."""

    def on_change(self) -> None:
        """A watched table changed."""
