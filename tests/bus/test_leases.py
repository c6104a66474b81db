"""Partition leases in a JetStream KV bucket against a real nats-server: members share the
partitions, a new member gets its share, a member that stops beating (as if SIGKILLed) loses
its partitions to the others once its leases expire, and one that closes hands them over at
once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from openmlink.bus import NatsBus, PartitionLeases, Partitions
from tests.support.nats import NatsServer, nats_server

__all__ = ["nats_server"]

LEASE = 1.0


async def _until(cond: Callable[[], bool], what: str, timeout: float = 15.0) -> float:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - t0


async def _member(url: str, n: int = 8) -> tuple[NatsBus, PartitionLeases]:
    bus = NatsBus(url, prefix="lt")
    await bus.connect()
    leases = PartitionLeases(bus, Partitions(n, leased=True), lease_s=LEASE)
    await leases.start()
    return bus, leases


def _shared(*ls: PartitionLeases) -> bool:
    """Disjoint, all partitions owned, each member its fair share."""
    sets = [lv.parts.owned for lv in ls]
    n = ls[0].parts.n
    union = frozenset().union(*sets)
    return (sum(len(s) for s in sets) == n and union == frozenset(range(n))
            and max(len(s) for s in sets) - min(len(s) for s in sets) <= 1)


def test_members_share_partitions_and_take_over_a_dead_members(nats_server: NatsServer) -> None:
    async def run() -> None:
        bus_a, a = await _member(nats_server.url)
        assert a.parts.owned == frozenset(range(8))  # alone: all of them at the first beat
        bus_b, b = await _member(nats_server.url)
        await _until(lambda: _shared(a, b), "two members share 8 partitions")
        bus_c, c = await _member(nats_server.url)
        await _until(lambda: _shared(a, b, c), "three members share 8 partitions")
        # c stops beating without a word (its process was SIGKILLed): its leases expire
        for t in c._tasks:  # neither beats nor watches any more
            t.cancel()
        lost = c.parts.owned
        took = await _until(lambda: _shared(a, b), "the survivors take c's partitions")
        assert lost <= a.parts.owned | b.parts.owned
        assert took < LEASE + 3  # expiry + a round trip (+ slack for a loaded machine)
        # a member that closes hands its partitions over at once (no lease to wait for)
        await b.close()
        await _until(lambda: a.parts.owned == frozenset(range(8)), "a takes b's partitions",
                     timeout=LEASE)
        assert b.parts.owned == frozenset()
        await a.close()
        await c.close()
        for bus in (bus_a, bus_b, bus_c):
            await bus.close()

    asyncio.run(run())


def test_a_member_that_cannot_renew_drops_its_partitions(nats_server: NatsServer) -> None:
    """Its leases expired: another member may own them now, so it must stop computing them."""
    async def run() -> None:
        bus_a, a = await _member(nats_server.url, 4)
        assert a.parts.owned == frozenset(range(4))
        # the event loop was held for longer than a lease (a long GC, a frozen VM) while
        # another member took the partitions over
        a._tasks[-1].cancel()  # its heartbeat stops (its watch goes on: it catches up)
        await asyncio.sleep(LEASE * 1.5)
        bus_b, b = await _member(nats_server.url, 4)
        assert b.parts.owned == frozenset(range(4))
        assert a.parts.owned == b.parts.owned  # both think they own them: a is stale
        await a.beat()  # a wakes up: its renewals fail (b may hand it some back meanwhile)
        assert not a.parts.owned & b.parts.owned
        a._tasks.append(asyncio.create_task(a._run()))  # and beats on
        await _until(lambda: _shared(a, b), "a and b share the partitions again")
        await b.close()
        await a.close()
        for bus in (bus_a, bus_b):
            await bus.close()

    asyncio.run(run())
