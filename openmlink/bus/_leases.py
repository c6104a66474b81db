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
``lease_s`` (NATS unreachable, its event loop held) drops all its partitions: it cannot know
they are still its own (docs/scale-out.md, failure modes).  The leases use a NATS connection
of their own, so renewals never wait behind the bus's data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import zlib
from typing import Any

from ._nats import NatsBus
from ._parts import Partitions

__all__ = ["LEASE_S", "PartitionLeases"]

log = logging.getLogger("openmlink.bus.leases")

#: seconds a lease lasts without renewal (the bucket's TTL) (inferred: failover within 5 s)
LEASE_S = 2.0


class PartitionLeases:
    """Keeps ``parts`` (``leased``) equal to the partitions this member holds leases on."""

    def __init__(self, bus: NatsBus, parts: Partitions, group: str = "implied",
                 lease_s: float = LEASE_S) -> None:
        if not parts.leased:
            raise ValueError(f"{parts!r}: fixed partitions are not leased")
        if not lease_s >= 1.0:  # the server's TTL resolution (and its marker TTL) is 1 s
            raise ValueError(f"lease_s must be >= 1 s, not {lease_s}")
        self.bus = bus
        self.parts = parts
        self.group = group
        self.lease_s = lease_s
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
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def beat_s(self) -> float:
        return self.lease_s / 4

    def _pkey(self, k: int) -> str:
        return f"{self.group}.p.{k}"

    async def start(self) -> None:
        """Connect, open the bucket, watch it, beat once (this member takes its share now),
        then beat every ``beat_s`` seconds (and on a departure) until ``close``."""
        import nats
        from nats.js.api import KeyValueConfig, StorageType

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
        self._last_ok = time.monotonic()
        await self.beat()
        self._tasks.append(asyncio.create_task(self._run(), name=f"leases:{self.group}"))

    async def _watch(self, first: asyncio.Future[None]) -> None:
        from nats.js.kv import KV_DEL, KV_PURGE

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
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.beat_s)
            self._wake.clear()
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
                    self.parts.set(())

    async def beat(self) -> None:
        """One heartbeat (module docstring)."""
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
        self.parts.set(self._revs)

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

    async def close(self) -> None:
        """Stop beating; release the leases and the member key (the others take over at
        once)."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        if self._nc is None:
            return
        try:
            if self._nc.is_connected:
                await asyncio.gather(*(self._kv.delete(self._pkey(k), last=r)
                                       for k, r in sorted(self._revs.items())),
                                     return_exceptions=True)
                await self._kv.delete(f"{self.group}.m.{self.member}")
        except Exception as e:  # they expire after lease_s anyway
            log.warning("partition leases not released: %s: %s", type(e).__name__, e)
        finally:
            self._revs.clear()
            self.parts.set(())
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = None

    def describe(self) -> dict[str, object]:
        """For ``GET /health``."""
        return {**self.parts.describe(), "lease_s": self.lease_s, "beats": self.beats,
                "failed_beats": self.failed_beats}
