"""Partitions shared among the live members of an engine group: leases in a JetStream KV.

Bucket ``<PREFIX>_PARTS`` (``ttl`` = ``lease_s``: a key not written again within ``lease_s``
seconds disappears), keys:

* ``<group>.m.<member id>``: a live member (the bus id of the process), written every beat;
* ``<group>.p.<K>``: the lease of partition K, value the owner's member id, renewed every beat
  by a compare-and-set on its last revision (``update(last=...)``).

Every ``lease_s / 4`` seconds each member (``PartitionLeases.beat``): writes its member key;
renews its leases (a lease whose revision moved -- it expired and another member took it --
is lost); counts the live members M and, if it owns more than ceil(N / M) partitions, releases
the highest ones (a member joined), else takes free ones (``create``: succeeds only for a key
that does not exist) up to ceil(N / M).  A member that stops (SIGKILL, a frozen host, a cut
network) stops renewing: its member key and leases expire after ``lease_s`` and the others
take its partitions at their next beat, within ``lease_s * 1.25`` plus one beat's requests.
A member that stops cleanly (``close``) deletes its leases and member key at once.
A member that could not renew for ``lease_s`` (NATS unreachable, its event loop held) drops
all its partitions: it cannot know they are still its own (docs/scale-out.md, failure modes).
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

__all__ = ["PartitionLeases"]

log = logging.getLogger("openmlink.bus.leases")

#: seconds a lease lasts without renewal (the bucket's TTL) (inferred: failover within 5 s)
LEASE_S = 2.0


class PartitionLeases:
    """Keeps ``parts`` (``leased``) equal to the partitions this member holds leases on."""

    def __init__(self, bus: NatsBus, parts: Partitions, group: str = "implied",
                 lease_s: float = LEASE_S) -> None:
        if not parts.leased:
            raise ValueError(f"{parts!r}: fixed partitions are not leased")
        if not lease_s > 0:
            raise ValueError(f"lease_s must be > 0, not {lease_s}")
        self.bus = bus
        self.parts = parts
        self.group = group
        self.lease_s = lease_s
        self.bucket = f"{bus.prefix.upper()}_PARTS"
        self.member = bus.id
        self.beats = 0
        self.failed_beats = 0
        self._kv: Any = None
        self._revs: dict[int, int] = {}  # owned partition -> revision of its lease
        self._last_ok = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def beat_s(self) -> float:
        return self.lease_s / 4

    def _pkey(self, k: int) -> str:
        return f"{self.group}.p.{k}"

    async def start(self) -> None:
        """Open the bucket, beat once (this member takes its share now), then every
        ``beat_s`` seconds until ``close``."""
        from nats.js.api import KeyValueConfig, StorageType

        js = self.bus._js
        if js is None:
            raise RuntimeError(f"{self.bus!r} is not connected")
        try:
            self._kv = await js.create_key_value(KeyValueConfig(
                bucket=self.bucket, ttl=self.lease_s, storage=StorageType.MEMORY))
        except Exception as e:  # made by another member with another lease time: use it
            log.warning("KV bucket %s: %s: %s; binding to it as it is", self.bucket,
                        type(e).__name__, e)
            self._kv = await js.key_value(self.bucket)
        self._last_ok = time.monotonic()
        await self.beat()
        self._task = asyncio.create_task(self._run(), name=f"leases:{self.group}")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.beat_s)
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
        late = t0 - self._last_ok > self.lease_s  # our leases may have expired meanwhile
        await kv.put(f"{self.group}.m.{self.member}", b"")
        for k, rev in sorted(self._revs.items()):
            try:
                self._revs[k] = await kv.update(self._pkey(k), self.member.encode(), last=rev)
            except (KeyWrongLastSequenceError, KeyNotFoundError):
                del self._revs[k]  # expired, maybe taken by another member
                log.warning("partition %s lease lost%s", k, " (late heartbeat)" if late else "")
        members, taken = await self._census()
        target = math.ceil(self.parts.n / max(1, len(members | {self.member})))
        if len(self._revs) > target:  # a member joined: hand the extra partitions over
            for k in sorted(self._revs)[target:]:
                rev = self._revs.pop(k)
                with contextlib.suppress(KeyWrongLastSequenceError, KeyNotFoundError):
                    await kv.delete(self._pkey(k), last=rev)
        elif len(self._revs) < target:
            free = [k for k in range(self.parts.n) if k not in taken and k not in self._revs]
            # start at a place of our own, so that members taking at once rarely collide
            off = zlib.crc32(self.member.encode()) % max(1, len(free))
            for k in free[off:] + free[:off]:
                if len(self._revs) >= target:
                    break
                try:
                    self._revs[k] = await kv.create(self._pkey(k), self.member.encode())
                except KeyWrongLastSequenceError:
                    pass  # another member was first
        self._last_ok = t0
        self.beats += 1
        self.parts.set(self._revs)

    async def _census(self) -> tuple[set[str], set[int]]:
        """(live member ids, partitions with a lease): the group's keys (not deleted ones)."""
        watcher = await self._kv.watch(f"{self.group}.>", ignore_deletes=True, meta_only=True)
        members: set[str] = set()
        taken: set[int] = set()
        try:
            async for entry in watcher:
                if entry is None:  # the current keys are all delivered
                    break
                kind, _, name = entry.key[len(self.group) + 1:].partition(".")
                if kind == "m":
                    members.add(name)
                elif kind == "p" and name.isdigit():
                    taken.add(int(name))
        finally:
            await watcher.stop()
        return members, taken

    async def close(self) -> None:
        """Stop beating; release the leases and the member key (the others take over at
        their next beat)."""
        from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._kv is None or not self.bus.connected:
            return
        try:
            for k, rev in sorted(self._revs.items()):
                with contextlib.suppress(KeyWrongLastSequenceError, KeyNotFoundError):
                    await self._kv.delete(self._pkey(k), last=rev)
            await self._kv.delete(f"{self.group}.m.{self.member}")
        except Exception as e:  # they expire after lease_s anyway
            log.warning("partition leases not released: %s: %s", type(e).__name__, e)
        self._revs.clear()
        self.parts.set(())

    def describe(self) -> dict[str, object]:
        """For ``GET /health``."""
        return {**self.parts.describe(), "lease_s": self.lease_s, "beats": self.beats,
                "failed_beats": self.failed_beats}
