"""An engine's journal replicated through JetStream: the state a standby takes over from.

The order manager journals every step's state changes as ``(ns, key) -> body`` rows in one
atomic commit before it publishes the step's records (``srse.Journal``).  ``JournalLog`` keeps
those rows in a JetStream stream, so that another process can take the engine over when the
one working it dies (docs/scale-out.md, "Order manager failover"):

* stream ``<PREFIX>_JRN``, subjects ``<prefix>.j.<group>`` (file storage): a log, in order;
* a *commit* is one message, or several consecutive pieces below 3/4 of the server's
  ``max_payload`` (header ``Oml-Jrn``: ``c <id> <i> <n>``); a follower applies it only once its
  last piece arrived, so a holder that dies in the middle of sending one leaves nothing of it;
* a *checkpoint* (``k <id> <i> <n>``) is every row at once; a follower replaces its rows with
  it.  The holder sends one when the log since the last one outgrew ``compact_bytes`` and the
  rows (at least 4x their size), then purges the stream up to it (``keep``: the checkpoint and
  everything sent after it, counted on the sending side, so a purge never removes a message
  the checkpoint does not cover);
* every message carries the holder's *epoch* (header ``Oml-Epoch``: the revision of its lease,
  which grows with each new holder); a follower ignores messages of an epoch below the highest
  it saw, so a former holder that was paused and comes back cannot change the state the new
  one works from (fencing, with ``fresh``: see ``StreamJournal.commit``).

Messages go through the bus's send queue (``NatsBus.send_durable``), in order with the
records the engine publishes after the commit: JetStream stores a commit before any record
that follows it, so whatever a standby restores is never behind what clients saw.

Body of a message: entries ``u8 op (1 put, 2 delete)  u16 len ns  u32 len key  u32 len body``
then the three byte strings (little-endian).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any

from ._nats import NatsBus

__all__ = ["Fenced", "JournalLog", "StreamJournal", "decode_entries", "encode_entries"]

log = logging.getLogger("openmlink.bus.jlog")

H_JRN = "Oml-Jrn"
H_EPOCH = "Oml-Epoch"
_PUT, _DEL = 1, 2
_HEAD = struct.Struct("<BHII")
#: log bytes since the last checkpoint before the next one (and at least 4x the rows' size)
COMPACT_BYTES = 64 << 20

Entry = tuple[int, str, str, bytes]  # op, ns, key, body


class Fenced(RuntimeError):
    """This process no longer holds the lease it journals under: it must not act."""


def encode_entries(entries: Iterable[Entry]) -> bytes:
    out = bytearray()
    for op, ns, k, body in entries:
        nb, kb = ns.encode(), k.encode()
        out += _HEAD.pack(op, len(nb), len(kb), len(body))
        out += nb
        out += kb
        out += body
    return bytes(out)


def decode_entries(data: bytes) -> Iterator[Entry]:
    mv, i, n = memoryview(data), 0, len(data)
    while i < n:
        op, ln, lk, lb = _HEAD.unpack_from(mv, i)
        i += _HEAD.size
        ns = bytes(mv[i:i + ln]).decode()
        i += ln
        k = bytes(mv[i:i + lk]).decode()
        i += lk
        body = bytes(mv[i:i + lb])
        i += lb
        if op not in (_PUT, _DEL) or i > n:
            raise ValueError(f"journal message: bad entry at byte {i} of {n}")
        yield op, ns, k, body


def _pieces(entries: list[Entry], max_bytes: int) -> list[bytes]:
    """``entries`` cut into message bodies of at most ``max_bytes`` (one entry never split)."""
    out: list[bytes] = []
    cur: list[Entry] = []
    size = 0
    for e in entries:
        n = _HEAD.size + len(e[1].encode()) + len(e[2].encode()) + len(e[3])
        if n > max_bytes:
            raise ValueError(f"journal row {e[1]}/{e[2]}: {n} bytes, above the {max_bytes} a "
                             "NATS message may carry")
        if cur and size + n > max_bytes:
            out.append(encode_entries(cur))
            cur, size = [], 0
        cur.append(e)
        size += n
    out.append(encode_entries(cur))
    return out


class JournalLog:
    """The journal stream of one engine ``group`` on ``bus``: followed (``follow``) by every
    member, the rows kept in ``rows``; written by the holder through ``journal``."""

    def __init__(self, bus: NatsBus, group: str = "trading",
                 compact_bytes: int = COMPACT_BYTES) -> None:
        self.bus = bus
        self.group = group
        self.stream = f"{bus.prefix.upper()}_JRN"
        self.subject = f"{bus.prefix}.j.{group}"
        self.compact_bytes = compact_bytes
        self.rows: dict[tuple[str, str], bytes] = {}
        self.epoch = 0  #: the highest epoch applied
        self.applied_seq = 0  #: stream sequence of the last message applied (or skipped)
        self.commits = 0  #: commits applied by following
        self.fenced_msgs = 0  #: messages of an older epoch ignored
        self._partial: tuple[str, int, int, list[bytes]] | None = None  # kind, id, epoch, pieces
        self._sub: Any = None
        self._progress = asyncio.Event()

    # ------------------------------------------------------------------ following
    async def open(self) -> None:
        """Make sure the stream exists and follow it from its first message."""
        from nats.js.api import DeliverPolicy, StorageType, StreamConfig

        js = self.bus._js  # the bus's JetStream context (same package)
        with contextlib.suppress(Exception):  # another member made it: bind to it below
            await js.add_stream(StreamConfig(name=self.stream, subjects=[f"{self.bus.prefix}.j.>"],
                                             storage=StorageType.FILE))
        await js.stream_info(self.stream)  # a stream that cannot be made or found: raise
        self._sub = await js.subscribe(self.subject, cb=self._on_msg, ordered_consumer=True,
                                       deliver_policy=DeliverPolicy.ALL)

    async def stop_following(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def last_seq(self) -> int:
        """The stream sequence of the group's latest message (0: none)."""
        from nats.js.errors import NotFoundError

        try:
            m = await self.bus._js.get_last_msg(self.stream, self.subject)
        except NotFoundError:
            return 0
        return int(m.seq or 0)

    async def caught_up(self, timeout: float = 10.0) -> int:
        """Wait until every message now in the stream was applied here; the sequence."""
        last = await self.last_seq()
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self.applied_seq < last:
            left = end - loop.time()
            if left <= 0:
                raise TimeoutError(f"journal {self.subject}: at sequence {self.applied_seq} of "
                                   f"{last} after {timeout:g} s")
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), min(left, 0.2))
        return last

    async def _on_msg(self, m: Any) -> None:
        try:
            self.apply(m.headers or {}, m.data)
        except Exception as e:  # a message this version cannot read: say so, keep following
            log.error("journal message %s on %s unreadable (%d bytes): %s: %s",
                      m.metadata.sequence.stream, m.subject, len(m.data), type(e).__name__, e)
        self.applied_seq = int(m.metadata.sequence.stream)
        self._progress.set()

    def apply(self, headers: dict[str, str], data: bytes) -> None:
        """One message of the stream, in stream order."""
        epoch = int(headers.get(H_EPOCH, "0"))
        if epoch < self.epoch:
            self.fenced_msgs += 1
            return
        if epoch > self.epoch:
            self.epoch = epoch
            self._partial = None  # the former holder's unfinished commit never completes
        kind, cid, i, n = headers[H_JRN].split()
        ident, idx, count = int(cid), int(i), int(n)
        p = self._partial
        if idx == 0 or p is None or p[:3] != (kind, ident, epoch) or len(p[3]) != idx:
            if idx != 0:  # the middle of something whose start we do not have
                self._partial = None
                return
            p = self._partial = (kind, ident, epoch, [])
        p[3].append(data)
        if len(p[3]) < count:
            return
        self._partial = None
        entries = [e for piece in p[3] for e in decode_entries(piece)]
        if kind == "k":
            self.rows = {}
        elif kind != "c":
            raise ValueError(f"journal message kind {kind!r}")
        for op, ns, k, body in entries:
            if op == _PUT:
                self.rows[(ns, k)] = body
            else:
                self.rows.pop((ns, k), None)
        self.commits += kind == "c"

    # ------------------------------------------------------------------ holding
    def journal(self, epoch: int, fresh: Callable[[], bool]) -> StreamJournal:
        """The journal the holder works with, writing under ``epoch`` (it takes the rows
        followed so far: stop following first); ``fresh()`` False means the lease may have
        passed to another member."""
        j = StreamJournal(self, epoch, fresh, self.rows)
        self.rows = {}
        return j


class StreamJournal:
    """``srse.Journal``'s interface over a ``JournalLog``: rows in memory, each commit sent to
    the stream (through the bus's ordered send queue) before the records published after it."""

    def __init__(self, jlog: JournalLog, epoch: int, fresh: Callable[[], bool],
                 rows: dict[tuple[str, str], bytes] | None = None) -> None:
        self.jlog = jlog
        self.epoch = epoch
        self.fresh = fresh
        self.rows = {} if rows is None else rows
        self.commits = 0
        self.failed = 0  #: commits JetStream did not acknowledge
        self._next_id = 1
        self._sent = 0  # messages queued
        self._log_bytes = 0  # bytes queued since the last checkpoint
        self._check_at = jlog.compact_bytes  # log bytes at which to weigh a checkpoint
        self._compacting = False
        self._headers_epoch = str(epoch)

    def close(self) -> None:
        pass

    def items(self, ns: str) -> Iterator[tuple[str, bytes]]:
        for (n, k), body in list(self.rows.items()):
            if n == ns:
                yield k, body

    def count(self, ns: str) -> int:
        return sum(1 for n, _k in self.rows if n == ns)

    def commit(self, puts: Iterable[tuple[str, str, bytes]],
               deletes: Collection[tuple[str, str]] = ()) -> None:
        """Apply here and queue for the stream; ``Fenced`` (nothing applied or sent) when the
        lease is not known to be this process's any more."""
        if not self.fresh():
            raise Fenced(f"journal {self.jlog.subject}: the lease of epoch {self.epoch} is not "
                         "known to be held any more; not acting on it")
        entries: list[Entry] = [(_PUT, ns, k, body) for ns, k, body in puts]
        entries += [(_DEL, ns, k, b"") for ns, k in deletes]
        for op, ns, k, body in entries:
            if op == _PUT:
                self.rows[(ns, k)] = body
            else:
                self.rows.pop((ns, k), None)
        self._send("c", entries)
        self.commits += 1
        if self._log_bytes > self._check_at and not self._compacting:
            size = sum(len(b) for b in self.rows.values())  # once per threshold passed
            if self._log_bytes > 4 * size:
                self.checkpoint()
            else:
                self._check_at = 4 * size

    def checkpoint(self) -> asyncio.Future[None]:
        """Send every row as one checkpoint; once stored, purge the stream before it."""
        first = self._sent
        entries = [(_PUT, ns, k, body) for (ns, k), body in self.rows.items()]
        done = self._send("k", entries)
        self._log_bytes = 0
        self._check_at = self.jlog.compact_bytes
        self._compacting = True

        async def purge() -> None:
            try:
                await done
                keep = self._sent - first  # the checkpoint and whatever was queued after it
                await self.jlog.bus._js.purge_stream(self.jlog.stream, subject=self.jlog.subject,
                                                     keep=keep)
            except Exception as e:  # the log stays longer; the next checkpoint tries again
                log.error("journal %s: compaction failed: %s: %s", self.jlog.subject,
                          type(e).__name__, e)
            finally:
                self._compacting = False
        return asyncio.ensure_future(purge())

    def _send(self, kind: str, entries: list[Entry]) -> asyncio.Future[None]:
        bus = self.jlog.bus
        pieces = _pieces(entries, bus._max_bytes())
        ident = self._next_id
        self._next_id += 1
        last: asyncio.Future[None] | None = None
        for i, body in enumerate(pieces):
            last = bus.send_durable(self.jlog.subject, body, {
                H_JRN: f"{kind} {ident} {i} {len(pieces)}", H_EPOCH: self._headers_epoch})
            last.add_done_callback(self._acked)
            self._sent += 1
            self._log_bytes += len(body)
        assert last is not None
        return last

    def _acked(self, fut: asyncio.Future[None]) -> None:
        if fut.cancelled():
            return
        e = fut.exception()
        if e is not None:
            self.failed += 1
            log.error("journal %s: a commit was not stored in JetStream: %s", self.jlog.subject, e)
