"""A post checked by another process's validators (``NatsBus.validate_remote``) while the
process that answers for them dies: the check goes to the process that registered the type
last, and is asked again of the one that takes over as soon as it registers (a post racing a
trading failover is worked or refused by the new holder, not after a timeout), and a check
nobody ever answers is refused with the reason."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import nats
import pytest

from openmlink.bus import Event, NatsBus
from openmlink.bus import _nats as nats_bus
from openmlink.errors import PostRejected
from openmlink.schema import TickerKey, registry
from tests.support.nats import NatsServer, nats_server
from tests.support.nats import run as _run
from tests.support.nats import until as _until

__all__ = ["nats_server"]

ITEM = registry()["TickerItemDef"]


def _item(firm: str) -> Event:
    return Event(ITEM, "upsert", {"ticker": TickerKey("EQT", "NMS", "AAPL"), "basketNumber": 1,
                                  "userName": "alice", "clientFirm": firm}, 1)


def _refuse_bad(m: Any) -> None:
    if m.rec["clientFirm"] == "BAD":
        raise PostRejected("clientFirm BAD: refused by the new holder")


async def _engine(url: str) -> NatsBus:
    """A process running the validators of ``TickerItemDef`` (registered in ``<P>_VALID``)."""
    bus = NatsBus(url)
    bus.add_validator(ITEM.name, _refuse_bad)
    await bus.connect()
    return bus


@asynccontextmanager
async def _gateway_after(url: str) -> AsyncIterator[tuple[NatsBus, str]]:
    """An engine process registers the type and stops (its registration stays live); a
    gateway that knows the type is validated elsewhere; yields (gateway, the engine's id)."""
    old = await _engine(url)
    await old.close()
    gw = NatsBus(url)
    await gw.connect()
    try:
        await _until(lambda: gw.validated_elsewhere(ITEM.name), "the gateway knows the type")
        yield gw, old.id
    finally:
        await gw.close()


async def _silent(url: str, who: str, got: list[bytes]) -> Any:
    """The process ``who`` still connected but dying: it takes the checks sent to it (kept in
    ``got``) and never answers."""
    async def ignore(m: Any) -> None:
        got.append(m.data)

    nc = await nats.connect(url)
    await nc.subscribe(f"oml.v.{ITEM.name}.{who}", cb=ignore)
    # the server has the subscription before the gateway asks (nc.flush() did not say so: its
    # PING overtook the SUB, and under load the gateway's request found no responder once)
    await nats_bus.round_trip(nc)
    return nc


async def _renew(gw: NatsBus, who: str) -> None:
    """``who`` writes its registration again (as its renewer does); returns once ``gw`` has
    seen it (a later entry of the same bucket, a registration of another type, arrived)."""
    nc = await nats.connect(gw.url)
    kv = await nc.jetstream().key_value(gw.valid_bucket)
    await kv.put(f"{ITEM.name}.{who}", b"old engine")
    await kv.put("Sentinel.x", b"marker")
    await _until(lambda: gw.validated_elsewhere("Sentinel"), "the gateway saw the renewal")
    await nc.close()


def test_a_check_sent_to_a_dying_process_is_asked_of_the_one_taking_over_at_once(
        nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # a request would wait 30 s for the dying process: the check must not
    monkeypatch.setattr(nats_bus, "CHECK_TRY_S", 30.0)
    monkeypatch.setattr(nats_bus, "CHECK_WAIT_S", 60.0)

    async def main() -> None:
        async with _gateway_after(nats_server.url) as (gw, old):
            got: list[bytes] = []
            dying = await _silent(nats_server.url, old, got)
            check = asyncio.create_task(gw.validate_remote(_item("BAD")))
            await _until(lambda: len(got) == 1, "the check reached the dying process")
            new = await _engine(nats_server.url)  # the standby takes over and registers
            with pytest.raises(PostRejected) as e:
                await asyncio.wait_for(check, 20)  # a safety net: far below the 30 s try
            assert e.value.detail == "clientFirm BAD: refused by the new holder"
            assert (gw.stats.check_rerouted, gw.stats.check_retries) == (1, 0)
            # the dying process still takes requests: later checks go to the newest only,
            # even after the old one renewed its registration (a paused holder resuming)
            await _renew(gw, old)
            await gw.validate_remote(_item("GOOD"))  # accepted: nothing raised
            assert len(got) == 1
            await dying.close()
            await new.close()

    _run(main)


def test_a_check_while_no_process_is_connected_waits_for_the_next_to_register(
        nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nats_bus, "CHECK_WAIT_S", 60.0)

    async def main() -> None:
        async with _gateway_after(nats_server.url) as (gw, _old):
            check = asyncio.create_task(gw.validate_remote(_item("BAD")))
            await _until(lambda: gw.stats.check_retries == 1, "the check found no responder")
            new = await _engine(nats_server.url)
            with pytest.raises(PostRejected) as e:
                await asyncio.wait_for(check, 20)
            assert e.value.detail == "clientFirm BAD: refused by the new holder"
            assert gw.stats.check_retries == 1  # no polling meanwhile: it waited for `new`
            await new.close()

    _run(main)


def test_a_check_nobody_answers_is_refused_with_the_reason(nats_server: NatsServer) -> None:
    async def main() -> None:
        async with _gateway_after(nats_server.url) as (gw, old):
            got: list[bytes] = []
            dying = await _silent(nats_server.url, old, got)
            try:  # closed whatever happens: a socket left open fails a later test when collected
                with pytest.raises(PostRejected) as e:
                    await gw.validate_remote(_item("GOOD"))
                seen = f"{e.value.detail}; asked {len(got)} times; {gw.stats}"
                assert "not accepted: the engine process that checks it did not answer" in seen
                assert len(got) >= 2, seen  # asked again while its registration is live
            finally:
                await dying.close()
            with pytest.raises(PostRejected) as e:
                await gw.validate_remote(_item("GOOD"))
            assert "not accepted: no process running its engine is connected" in e.value.detail

    _run(main)
