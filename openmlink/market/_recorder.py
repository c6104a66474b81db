"""Recording the bus to a compact file, and replaying it.

File format (version 1), little-endian::

    b"OMLREC01"  u32 header_len  header (JSON: version, compression, created_ns, note)
    frame*       u32 compressed_len  zstd(payload)

A payload holds whole messages back to back (frames are cut at ~1 MiB of raw bytes)::

    message*  (the bus wire encoding: ``bus._wire``, ``encode_message``)

Columns keep their exact dtype and bytes, strings are dictionary-coded per message, and
zstd does the rest, so a replay republishes bit-identical records.
"""

from __future__ import annotations

import asyncio
import io
import math
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import zstandard

from ..bus import Bus, ColumnBatch, Event, decode_messages, encode_message
from ..clock import Clock, SimClock
from ._errors import RecordingError, SourceError

__all__ = ["MAGIC", "Recorder", "Replayer", "read_header", "read_recording"]

MAGIC = b"OMLREC01"
_FRAME_BYTES = 1 << 20
Message = Event | ColumnBatch


class Recorder:
    """Writes every message published on a bus to a file (see the module docstring)."""

    def __init__(self, path: str | Path, clock: Clock, *, note: str = "",
                 level: int = 3) -> None:
        self.path = Path(path)
        self.clock = clock
        self._f: BinaryIO | None = open(self.path, "wb")
        header = orjson.dumps({"version": 1, "compression": "zstd",
                               "created_ns": clock.time_ns(), "note": note})
        self._f.write(MAGIC + struct.pack("<I", len(header)) + header)
        self._z = zstandard.ZstdCompressor(level=level)
        self._buf = io.BytesIO()
        self._unsub: Any = None
        self.messages = 0
        self.records = 0

    def attach(self, bus: Bus) -> None:
        self._unsub = bus.subscribe(None, self.on_message)

    def on_message(self, msg: Message) -> None:
        if self._f is None:
            return
        self._buf.write(encode_message(msg, self.clock.time_ns()))
        self.messages += 1
        if isinstance(msg, ColumnBatch):
            self.records += len(next(iter(msg.data.values()), ()))
        else:
            self.records += 1
        if self._buf.tell() >= _FRAME_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._f is None or self._buf.tell() == 0:
            return
        comp = self._z.compress(self._buf.getvalue())
        self._f.write(struct.pack("<I", len(comp)))
        self._f.write(comp)
        self._buf = io.BytesIO()

    def close(self) -> None:
        if self._unsub is not None:
            self._unsub()
            self._unsub = None
        if self._f is not None:
            self.flush()
            self._f.close()
            self._f = None

    @property
    def bytes_written(self) -> int:
        return self.path.stat().st_size


def read_header(path: str | Path) -> dict[str, Any]:
    """The JSON header of a recording (``RecordingError`` if the file is missing or is not a
    recording of a version this reader knows)."""
    try:
        with open(path, "rb") as f:
            return _header(path, f)
    except OSError as e:
        raise RecordingError(path, None, f"cannot read: {e.strerror or e}") from None


def _header(path: str | Path, f: BinaryIO) -> dict[str, Any]:
    if f.read(len(MAGIC)) != MAGIC:
        raise RecordingError(path, 0, "not an openmlink recording (no OMLREC01 signature)")
    raw = f.read(4)
    if len(raw) < 4:
        raise RecordingError(path, len(MAGIC), "truncated in the header")
    (hlen,) = struct.unpack("<I", raw)
    body = f.read(hlen)
    if len(body) < hlen:
        raise RecordingError(path, len(MAGIC) + 4, f"truncated in the header ({len(body)} of "
                             f"{hlen} bytes)")
    try:
        head = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise RecordingError(path, len(MAGIC) + 4, f"header is not JSON: {e}") from None
    if not isinstance(head, dict) or head.get("version") != 1:
        got = head.get("version") if isinstance(head, dict) else head
        raise RecordingError(path, len(MAGIC) + 4, f"recording version {got!r} not supported "
                             f"(this reader knows version 1)")
    return head


def read_recording(path: str | Path) -> Iterator[tuple[int, Message]]:
    """Every (t_ns, message) of a recording, in recorded order; ``RecordingError`` (file, byte
    offset of the bad frame, reason) where the file is truncated or corrupt."""
    d = zstandard.ZstdDecompressor()
    try:
        f = open(path, "rb")
    except OSError as e:
        raise RecordingError(path, None, f"cannot read: {e.strerror or e}") from None
    with f:
        _header(path, f)
        while True:
            at = f.tell()
            head = f.read(4)
            if not head:
                return
            if len(head) < 4:
                raise RecordingError(path, at, "truncated (a frame length cut short)")
            (n,) = struct.unpack("<I", head)
            comp = f.read(n)
            if len(comp) < n:
                raise RecordingError(path, at, f"truncated (frame of {n} bytes, "
                                     f"{len(comp)} present)")
            try:
                msgs = list(decode_messages(d.decompress(comp)))
            except Exception as e:  # any decoding failure of damaged bytes: named, with place
                raise RecordingError(path, at, f"corrupt frame: {type(e).__name__}: {e}"
                                     ) from None
            yield from msgs


class Replayer:
    """Replays a recording onto a bus (a ``Source``): at the recorded pace times ``speed``,
    or as fast as possible with ``speed=None``. A ``SimClock`` is advanced to each
    message's recorded time before it is published."""

    name = "replay"

    def __init__(self, path: str | Path, speed: float | None = 1.0) -> None:
        self.path = Path(path)
        self.speed = speed
        self._closed = False
        self.published = 0

    def prepare(self, clock: Clock) -> str:
        """Check the speed and the file's header (``RecordingError`` if missing or not a
        recording); frames are checked as they are replayed."""
        if self.speed is not None and not (self.speed > 0 and math.isfinite(self.speed)):
            raise SourceError(f"replay: speed must be a positive number, not {self.speed}")
        head = read_header(self.path)
        size = self.path.stat().st_size
        note = f" ({head['note']})" if head.get("note") else ""
        pace = "as fast as possible" if self.speed is None else f"at {self.speed:g}x"
        return f"replay of {self.path}: {size / 1e6:.1f} MB{note}, {pace}"

    async def run(self, bus: Bus, clock: Clock) -> None:
        loop = asyncio.get_running_loop()
        wall0 = loop.time()
        t0: int | None = None
        for t_ns, msg in read_recording(self.path):
            if self._closed:
                return
            if t0 is None:
                t0 = t_ns
            if self.speed is not None and self.speed > 0:
                due = (t_ns - t0) / 1e9 / self.speed
                wait = due - (loop.time() - wall0)
                if wait > 0:
                    await asyncio.sleep(wait)
            elif self.published % 64 == 0:
                await asyncio.sleep(0)
            if isinstance(clock, SimClock) and t_ns > clock.time_ns():
                clock.advance_to(t_ns)
            bus.publish(msg)
            self.published += 1

    def replay_all(self, bus: Bus, clock: SimClock | None = None) -> int:
        """Synchronous fast replay (tools and tests); returns the messages published."""
        n = 0
        for t_ns, msg in read_recording(self.path):
            if clock is not None and t_ns > clock.time_ns():
                clock.advance_to(t_ns)
            bus.publish(msg)
            n += 1
        return n

    def close(self) -> None:
        self._closed = True
