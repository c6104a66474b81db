"""Partitions shared among the live members of an engine group: leases in a JetStream KV.

Bucket ``<PREFIX>_PARTS`` (``ttl`` = ``lease_s``: a key not written again within ``lease_s``
seconds disappears, and the server then puts an expiry marker, ``limit_marker_ttl``, that
watchers see), keys:

* ``<group>.m.<member id>``: a live member (the bus id of the process), written every beat;
* ``<group>.p.<K>``: the lease of partition K, value the owner's member id, renewed every beat
  by a compare-and-set on its last revision (``update(last=...)``).

Each member watches the group's keys (one push consumer: puts, deletes, expiry markers), so
it always knows the live members and who holds which partition without asking.  Every
``lease_s / 4`` seconds, and at once when a member or a lease disappears, it
(``PartitionLeases.beat``): writes its member key; renews its leases (a lease whose revision
moved -- it expired and another member took it -- is lost); and, with M live members, if it
holds more than ceil(N / M) partitions, releases the highest ones (a member joined), else
takes free ones (``create``: succeeds only for a key that does not exist) up to ceil(N / M).

A member that stops (SIGKILL, a frozen host, a cut network) stops renewing: its keys expire
after ``lease_s``, the expiry markers reach the others and they take its partitions at once
(failover: ``lease_s`` plus a round trip or two).  A member that stops cleanly (``close``)
deletes its leases and member key, so they move at once.  A member that could not renew for
``lease_s`` (NATS unreachable) drops all its partitions: it cannot know they are still its own
(docs/scale-out.md, failure modes).

The keeper runs in a thread of its own, with its own event loop and NATS connection: on a
loaded host an engine's event loop can be late by seconds (a burst of CPU work gets a small
share of a busy core), which must not cost it its partitions.  A watchdog ties the leases to
the engine being alive: the engine's loop marks a pulse every ``beat_s``; when no pulse came
for ``stall_s`` the keeper stops renewing, so a wedged engine loses its partitions as a dead
one does.  Ownership changes are handed to the engine's loop (``call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
import zlib
from typing import Any

from ._nats import NatsBus
from ._parts import Partitions

__all__ = ["LEASE_S", "PartitionLeases"]

log = logging.getLogger("openmlink.bus.leases")

#: seconds a lease lasts without renewal (the bucket's TTL) (inferred: failover within 5 s)
LEASE_S = 2.0
#: seconds without a pulse of the engine's event loop before the keeper stops renewing
#: (inferred: far above the loop delays of a loaded host, far below a human's patience)
STALL_S = 15.0


class PartitionLeases:
    """Keeps ``parts`` (``leased``) equal to the partitions this member holds leases on."""

    def __init__(self, bus: NatsBus, parts: Partitions, group: str = "implied",
                 lease_s: float = LEASE_S, stall_s: float = STALL_S) -> None:
        if not parts.leased:
            raise ValueError(f"{parts!r}: fixed partitions are not leased")
        if not lease_s >= 1.0:  # the server's TTL resolution (and its marker TTL) is 1 s
            raise ValueError(f"lease_s must be >= 1 s, not {lease_s}")
        self.bus = bus
        self.parts = parts
        self.group = group
        self.lease_s = lease_s
        self.stall_s = stall_s
        self.bucket = f"{bus.prefix.upper()}_PARTS"
        self.member = bus.id
        self.beats = 0
        self.failed_beats = 0
        self.members: set[str] = set()  #: live members seen by the watch
        self.holders: dict[int, str] = {}  #: partition -> member holding its lease (watch)
        self._gone: dict[int, int] = {}  # free partition -> revision of its delete/expiry marker
        self._nc: Any = None
        self._kv: Any = None
        self._watcher: Any = None
        self._revs: dict[int, int] = {}  # owned partition -> revision of its lease
        self._last_ok = 0.0
        self._pulse = time.monotonic()  # the engine's event loop was alive then
        self._owner_loop: asyncio.AbstractEventLoop | None = None  # the engine's loop
        self._loop: asyncio.AbstractEventLoop | None = None  # the keeper's loop (thread)
        self._thread: threading.Thread | None = None
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._pulser: asyncio.Task[None] | None = None

    @property
    def beat_s(self) -> float:
        return self.lease_s / 4

    def _pkey(self, k: int) -> str:
        return f"{self.group}.p.{k}"

    # ------------------------------------------------------------------ the engine's side
    async def start(self) -> None:
        """Start the keeper's thread; return once it has beaten once (this member holds its
        share now); the engine's loop pulses until ``close``."""
        self._owner_loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = self._owner_loop.create_future()

        def done(e: BaseException | None) -> None:  # called in the keeper's thread
            def settle() -> None:
                if not started.done():
                    started.set_result(None) if e is None else started.set_exception(e)
            loop.call_soon_threadsafe(settle)

        loop = self._owner_loop

        self._thread = threading.Thread(target=self._thread_main, args=(done,),
                                        name=f"leases:{self.group}", daemon=True)
        self._thread.start()
        await started
        self._pulser = asyncio.create_task(self._pulse_loop(), name="leases:pulse")

    async def _pulse_loop(self) -> None:
        while True:
            self._pulse = time.monotonic()
            await asyncio.sleep(self.beat_s)

    def _hand_over(self, owned: frozenset[int]) -> None:
        """(keeper thread) Ownership changed: set ``parts`` in the engine's loop."""
        loop = self._owner_loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.parts.set, owned)

    async def close(self, release: bool = True) -> None:
        """Stop the keeper; with ``release``, delete the leases and the member key (the
        others take over at once; without, they expire as a dead member's would)."""
        if self._pulser is not None:
            self._pulser.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pulser
            self._pulser = None
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and not loop.is_closed():
            fut = asyncio.run_coroutine_threadsafe(self._stop(release), loop)
            try:
                await asyncio.wrap_future(fut)
            finally:
                loop.call_soon_threadsafe(loop.stop)
            await asyncio.to_thread(thread.join, 10)
        self._thread = None
        self.parts.set(())

    # ------------------------------------------------------------------ the keeper's thread
    def _thread_main(self, started: Any) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._open(started))
            loop.run_forever()
        finally:
            loop.close()

    async def _open(self, started: Any) -> None:
        try:
            await self._connect()
            self._last_ok = time.monotonic()
            await self.beat()
        except BaseException as e:
            started(e)
            raise
        started(None)
        self._tasks.append(asyncio.create_task(self._run(), name=f"leases:{self.group}"))

    async def _connect(self) -> None:
        import nats
        from nats.js.api import KeyValueConfig, StorageType

        self._wake = asyncio.Event()
        self._nc = await nats.connect(self.bus.url, name=f"{self.bus.name} leases",
                                      max_reconnect_attempts=-1, reconnect_time_wait=0.5)
        js = self._nc.jetstream(timeout=self.lease_s)
        try:
            self._kv = await js.create_key_value(KeyValueConfig(
                bucket=self.bucket, ttl=self.lease_s, storage=StorageType.MEMORY,
                limit_marker_ttl=self.lease_s))
        except Exception as e:  # made by another member with another lease time: use it
            log.warning("KV bucket %s: %s: %s; binding to it as it is", self.bucket,
                        type(e).__name__, e)
            self._kv = await js.key_value(self.bucket)
        self._watcher = await self._kv.watch(f"{self.group}.>")
        first = asyncio.get_running_loop().create_future()
        self._tasks.append(asyncio.create_task(self._watch(first), name="leases:watch"))
        await first  # the keys as they are now

    async def _stop(self, release: bool) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        try:
            if release and self._nc is not None and self._nc.is_connected:
                await asyncio.gather(*(self._kv.delete(self._pkey(k), last=r)
                                       for k, r in sorted(self._revs.items())),
                                     return_exceptions=True)
                await self._kv.delete(f"{self.group}.m.{self.member}")
        except Exception as e:  # they expire after lease_s anyway
            log.warning("partition leases not released: %s: %s", type(e).__name__, e)
        finally:
            self._revs.clear()
            if self._nc is not None:
                with contextlib.suppress(Exception):
                    await self._nc.close()
                self._nc = None

    async def _watch(self, first: asyncio.Future[None]) -> None:
        from nats.js.kv import KV_DEL, KV_PURGE

        assert self._wake is not None
        async for entry in self._watcher:
            if entry is None:  # the current keys are all delivered
                if not first.done():
                    first.set_result(None)
                continue
            kind, _, name = entry.key[len(self.group) + 1:].partition(".")
            gone = entry.operation in (KV_DEL, KV_PURGE)
            if kind == "m":
                if gone:
                    self.members.discard(name)
                    self._wake.set()
                else:
                    self.members.add(name)
            elif kind == "p" and name.isdigit():
                k = int(name)
                if gone:
                    self.holders.pop(k, None)
                    self._gone[k] = entry.revision
                    self._wake.set()
                else:
                    self.holders[k] = bytes(entry.value or b"").decode()
                    self._gone.pop(k, None)
            if not first.done() and entry.delta == 0:
                first.set_result(None)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.beat_s)
            self._wake.clear()
            stalled = time.monotonic() - self._pulse
            if stalled > self.stall_s:  # the engine is wedged: let its leases expire
                if self._revs:
                    log.error("the engine's event loop gave no sign for %.0f s: partitions %s "
                              "left to expire", stalled, sorted(self._revs))
                    self._revs.clear()
                    self._hand_over(frozenset())
                continue
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.failed_beats += 1
                log.error("partition leases %s: %s: %s", self.bucket, type(e).__name__, e)
                if time.monotonic() - self._last_ok > self.lease_s and self._revs:
                    log.error("partition leases not renewed for %.1f s: dropping %s",
                              self.lease_s, sorted(self._revs))
                    self._revs.clear()
                    self._hand_over(frozenset())

    async def beat(self) -> None:
        """One heartbeat (module docstring), in the keeper's loop."""
        from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

        t0 = time.monotonic()
        kv = self._kv
        await kv.put(f"{self.group}.m.{self.member}", b"")
        self.members.add(self.member)
        owned = sorted(self._revs)
        done = await asyncio.gather(*(kv.update(self._pkey(k), self.member.encode(),
                                                last=self._revs[k]) for k in owned),
                                    return_exceptions=True)
        for k, r in zip(owned, done, strict=True):
            if isinstance(r, int):
                self._revs[k] = r
            elif isinstance(r, KeyWrongLastSequenceError | KeyNotFoundError):
                del self._revs[k]  # expired, maybe taken by another member
                log.warning("partition %s lease lost", k)
            else:
                raise r
        target = math.ceil(self.parts.n / max(1, len(self.members)))
        if len(self._revs) > target:  # a member joined: hand the extra partitions over
            extra = sorted(self._revs)[target:]
            revs = [self._revs.pop(k) for k in extra]
            await asyncio.gather(*(kv.delete(self._pkey(k), last=r)
                                   for k, r in zip(extra, revs, strict=True)),
                                 return_exceptions=True)
        elif len(self._revs) < target:
            free = [k for k in range(self.parts.n) if k not in self.holders
                    and k not in self._revs]
            # start at a place of our own, so that members taking at once rarely collide
            off = zlib.crc32(self.member.encode()) % max(1, len(free))
            want = (free[off:] + free[:off])[: target - len(self._revs)]
            got = await asyncio.gather(*(self._take(k) for k in want), return_exceptions=True)
            for k, r in zip(want, got, strict=True):
                if isinstance(r, int):
                    self._revs[k] = r
                elif not isinstance(r, KeyWrongLastSequenceError):  # else another was first
                    raise r
        self._last_ok = t0
        self.beats += 1
        self._hand_over(frozenset(self._revs))

    async def _take(self, k: int) -> int:
        """Take the lease of free partition k: the revision, or KeyWrongLastSequenceError."""
        from nats.js.errors import KeyWrongLastSequenceError

        gone = self._gone.get(k)
        if gone is not None:  # after a delete or an expiry marker: on top of it
            # (the client's ``create`` does not know the server's expiry markers)
            with contextlib.suppress(KeyWrongLastSequenceError):  # the marker expired too
                return int(await self._kv.update(self._pkey(k), self.member.encode(),
                                                 last=gone))
        return int(await self._kv.create(self._pkey(k), self.member.encode()))

    def revision(self, k: int) -> int | None:
        """The revision of this member's lease on partition ``k`` (None: not held).  Every
        revision of a key is above those before it, so it orders the successive holders of a
        partition (a journal's epoch, ``bus.JournalLog``)."""
        return self._revs.get(k)

    def fresh(self) -> bool:
        """Whether this member's leases were all renewed less than ``lease_s`` ago, so that no
        other member can hold them yet (False after a pause or a cut: act on nothing until
        the keeper's next beat settles it)."""
        return bool(self._revs) and time.monotonic() - self._last_ok < self.lease_s

    def describe(self) -> dict[str, object]:
        """For ``GET /health``."""
        return {**self.parts.describe(), "lease_s": self.lease_s, "beats": self.beats,
                "failed_beats": self.failed_beats}
