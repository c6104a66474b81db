"""Partition leases in a JetStream KV bucket against a real nats-server: members share the
partitions, a new member gets its share, a member that stops beating (as if SIGKILLed) loses
its partitions to the others once its leases expire, one that closes hands them over at
once, and one whose event loop is wedged lets them expire too."""

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


async def _member(url: str, n: int = 8, stall_s: float = 15.0
                  ) -> tuple[NatsBus, PartitionLeases]:
    bus = NatsBus(url, prefix="lt")
    await bus.connect()
    leases = PartitionLeases(bus, Partitions(n, leased=True), lease_s=LEASE, stall_s=stall_s)
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
        lost = c.parts.owned
        # c stops without a word (its process was SIGKILLed): its leases expire
        await c.close(release=False)
        took = await _until(lambda: _shared(a, b), "the survivors take c's partitions")
        assert lost <= a.parts.owned | b.parts.owned
        assert took < LEASE + 3  # expiry + a round trip (+ slack for a loaded machine)
        # a member that closes hands its partitions over at once (no lease to wait for)
        await b.close()
        await _until(lambda: a.parts.owned == frozenset(range(8)), "a takes b's partitions",
                     timeout=LEASE)
        assert b.parts.owned == frozenset()
        await a.close()
        for bus in (bus_a, bus_b, bus_c):
            await bus.close()

    asyncio.run(run())


def test_a_wedged_member_lets_its_partitions_expire(nats_server: NatsServer) -> None:
    """Its keeper thread sees no pulse of its event loop: it stops renewing, so the others
    take the partitions over; once the loop runs again, the member gets a share back."""
    async def run() -> None:
        bus_b, b = await _member(nats_server.url, 4)
        bus_a, a = await _member(nats_server.url, 4, stall_s=0.5)
        await _until(lambda: _shared(a, b), "a and b share 4 partitions")
        mine = a.parts.owned
        gained: list[frozenset[int]] = []
        b.parts.on_gain(gained.append)
        # a's event loop is held (here every member's is: b's keeper runs in its own thread)
        # until b's keeper holds a's partitions: a's keeper saw no pulse for stall_s and left
        # its leases to expire.  A condition, not a fixed time: on a loaded machine the
        # expiries and b's takes (possibly over several beats) came after the 3.5 s once held.
        def b_holds_mine() -> bool:  # revision(): one dict lookup, safe from this thread
            return all(b.revision(k) is not None for k in mine)
        deadline = time.monotonic() + 60
        while not b_holds_mine() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert b_holds_mine(), f"b's keeper did not take {sorted(mine)} while a was wedged"
        # b's hand-overs queued meanwhile run now (one per beat that took some of them)
        await _until(lambda: mine <= frozenset().union(*gained), "b's hand-overs ran")
        assert not a.parts.owned & b.parts.owned
        await _until(lambda: _shared(a, b), "a and b share the partitions again")
        await a.close()
        await b.close()
        for bus in (bus_a, bus_b):
            await bus.close()

    asyncio.run(run())
