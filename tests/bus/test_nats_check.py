"""A post checked by another process's validators (``NatsBus.validate_remote``) while the
process that answers for them dies: the check is asked again, so the process that takes over
answers it (a post racing a trading failover is worked or refused by the new holder), and a
check nobody ever answers is refused with the reason."""

from __future__ import annotations

import asyncio
from typing import Any

import nats
import pytest

from openmlink.bus import Event, NatsBus
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


async def _silent_responder(url: str) -> Any:
    """A process that takes the checks of ``TickerItemDef`` and never answers (it is dying)."""
    async def ignore(_m: Any) -> None:
        return None

    nc = await nats.connect(url)
    await nc.subscribe(f"oml.v.{ITEM.name}", queue="oml_v", cb=ignore)
    await nc.flush()
    return nc


def test_a_check_sent_to_a_dying_process_is_answered_by_the_one_taking_over(
        nats_server: NatsServer) -> None:
    async def main() -> None:
        old = NatsBus(nats_server.url)  # registers the type's validators in <P>_VALID
        old.add_validator(ITEM.name, _refuse_bad)
        await old.connect()
        await old.close()
        gw = NatsBus(nats_server.url)
        await gw.connect()
        await _until(lambda: gw.validated_elsewhere(ITEM.name), "the gateway knows the type")
        dying = await _silent_responder(nats_server.url)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        check = asyncio.create_task(gw.validate_remote(_item("BAD")))
        await asyncio.sleep(1.3)  # the first request went to the dying process
        await dying.close()
        new = NatsBus(nats_server.url)  # the standby takes over: its validators answer
        new.add_validator(ITEM.name, _refuse_bad)
        await new.connect()
        with pytest.raises(PostRejected) as e:
            await check
        assert e.value.detail == "clientFirm BAD: refused by the new holder"
        assert gw.stats.check_retries >= 1
        took = loop.time() - t0
        await gw.validate_remote(_item("GOOD"))  # accepted: nothing raised
        await new.close()
        await gw.close()
        assert took < 5.0  # answered by the new process, not refused at the old 5 s timeout

    _run(main)


def test_a_check_nobody_answers_is_refused_with_the_reason(nats_server: NatsServer) -> None:
    async def main() -> None:
        old = NatsBus(nats_server.url)
        old.add_validator(ITEM.name, _refuse_bad)
        await old.connect()
        await old.close()
        gw = NatsBus(nats_server.url)
        await gw.connect()
        await _until(lambda: gw.validated_elsewhere(ITEM.name), "the gateway knows the type")
        with pytest.raises(PostRejected) as e:
            await gw.validate_remote(_item("GOOD"))
        assert "not accepted: no process running its engine is connected" in e.value.detail
        dying = await _silent_responder(nats_server.url)
        with pytest.raises(PostRejected) as e:
            await gw.validate_remote(_item("GOOD"))
        assert "not accepted: the engine process that checks it did not answer" in e.value.detail
        await dying.close()
        await gw.close()

    _run(main)
