"""The bus: validators refuse before anything is stored, handler failures are never
swallowed (client posts get them back, server-side ones go to the supervisor)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.bus import ColumnBatch, Event, Failure, InProcessBus, PublishFailed, RecordingBus
from openmlink.errors import PostRejected
from openmlink.schema import TickerKey, pkey_of, registry
from openmlink.store import Store

REG = registry()
ITEM = REG["TickerItemDef"]


def _rec(tk: str = "AAPL", basket: int = 1, user: str = "alice") -> dict[str, Any]:
    return {"ticker": TickerKey("EQT", "NMS", tk), "basketNumber": basket, "userName": user}


def _platform_bus() -> tuple[RecordingBus, Store]:
    bus = RecordingBus()
    store = Store(REG)
    store.attach(bus)
    return bus, store


def _boom(msg: Any) -> None:
    raise RuntimeError("disk on fire")


def test_a_validator_refusal_stops_everything_and_reaches_the_publisher() -> None:
    bus, store = _platform_bus()
    seen: list[Any] = []
    bus.subscribe(ITEM.name, seen.append)

    def limit(msg: Any) -> None:
        if isinstance(msg, Event) and msg.origin == "mallory":
            raise PostRejected("order rate above 10/s for mallory")

    bus.add_validator(ITEM.name, limit)
    with pytest.raises(PostRejected, match="order rate"):
        bus.publish(Event(ITEM, "upsert", _rec(), 1, origin="mallory"))
    assert seen == [] and bus.published == [] and len(store.table(ITEM)) == 0
    assert bus.failures == 0  # a refusal is an answer, not a failure
    bus.publish(Event(ITEM, "upsert", _rec(), 2, origin="alice"))
    assert len(seen) == 1 and len(store.table(ITEM)) == 1


def test_a_removed_validator_no_longer_runs() -> None:
    bus, store = _platform_bus()
    remove = bus.add_validator(ITEM.name, lambda m: (_ for _ in ()).throw(PostRejected("no")))
    with pytest.raises(PostRejected):
        bus.publish(Event(ITEM, "upsert", _rec()))
    remove()
    bus.publish(Event(ITEM, "upsert", _rec()))
    assert len(store.table(ITEM)) == 1


def test_a_validator_that_crashes_aborts_the_publish_as_a_failure() -> None:
    bus, store = _platform_bus()
    bus.add_validator(ITEM.name, _boom, name="risk-check")
    with pytest.raises(PublishFailed) as ei:
        bus.publish(Event(ITEM, "upsert", _rec(), origin="alice"))
    assert not ei.value.stored and "risk-check: RuntimeError: disk on fire" in str(ei.value)
    assert len(store.table(ITEM)) == 0 and bus.failures == 1


def test_a_failing_handler_on_a_client_post_reaches_the_poster_after_all_ran(caplog) -> None:
    bus, store = _platform_bus()
    after: list[Any] = []
    bus.subscribe(ITEM.name, _boom, name="basket-engine")
    bus.subscribe(ITEM.name, after.append)
    with pytest.raises(PublishFailed) as ei:
        bus.publish(Event(ITEM, "upsert", _rec(), 5, origin="alice"))
    e = ei.value
    assert e.stored and [f.handler for f in e.failures] == ["basket-engine"]
    assert str(e) == "basket-engine: RuntimeError: disk on fire"
    assert len(after) == 1  # the others still ran
    assert store.table(ITEM).get(pkey_of(ITEM, _rec())) is not None  # stored whole
    assert bus.failures == 1
    logged = [r for r in caplog.records if r.name == "openmlink.bus"]
    assert logged and "basket-engine" in logged[0].getMessage()
    assert "TickerItemDef" in logged[0].getMessage() and "AAPL" in logged[0].getMessage()
    assert "alice" in logged[0].getMessage()


def test_server_side_failures_go_to_the_supervisor_and_are_counted() -> None:
    got: list[Failure] = []
    bus = InProcessBus(supervisor=got.append)
    bus.subscribe(ITEM.name, _boom, name="engine")
    bus.publish(Event(ITEM, "upsert", _rec()))  # no origin: server-side, no raise
    bus.publish(ColumnBatch(ITEM, {"basketNumber": [2, 3]}))
    assert [f.handler for f in got] == ["engine", "engine"]
    assert "AAPL" in got[0].where and got[1].where == "2 rows"
    assert bus.failures == 2 and len(bus.recent_failures) == 2


def test_a_fatal_supervisor_makes_a_server_side_failure_raise() -> None:
    def fatal(f: Failure) -> None:
        raise AssertionError(f"bus failure: {f}")

    bus = InProcessBus(supervisor=fatal)
    bus.subscribe(ITEM.name, _boom, name="engine")
    with pytest.raises(AssertionError, match="engine: RuntimeError"):
        bus.publish(Event(ITEM, "upsert", _rec()))


def test_a_gate_that_fails_stops_delivery() -> None:
    bus = InProcessBus(supervisor=lambda f: None)
    later: list[Any] = []
    bus.subscribe(None, _boom, name="store", gate=True)
    bus.subscribe(ITEM.name, later.append)
    with pytest.raises(PublishFailed) as ei:
        bus.publish(Event(ITEM, "upsert", _rec(), origin="alice"))
    assert not ei.value.stored and later == []


def test_unsubscribe_stops_delivery() -> None:
    bus = InProcessBus()
    seen: list[Any] = []
    unsub = bus.subscribe(None, seen.append)
    bus.publish(Event(ITEM, "upsert", _rec()))
    unsub()
    bus.publish(Event(ITEM, "upsert", _rec()))
    assert len(seen) == 1


@given(plan=st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=8),
       origin=st.sampled_from(["", "alice"]))
@settings(max_examples=200, deadline=None)
def test_every_handler_runs_once_and_every_failure_is_reported(
        plan: list[tuple[bool, bool]], origin: str) -> None:
    """plan: per handler (subscribed to all types?, fails?)."""
    supervised: list[Failure] = []
    bus = InProcessBus(supervisor=supervised.append)
    ran: list[int] = []
    for i, (to_all, fails) in enumerate(plan):
        def h(msg: Any, i: int = i, fails: bool = fails) -> None:
            ran.append(i)
            if fails:
                raise ValueError(f"h{i}")
        bus.subscribe(None if to_all else ITEM.name, h, name=f"h{i}")
    order = [i for i, (a, _) in enumerate(plan) if a] + [i for i, (a, _) in enumerate(plan) if not a]
    failing = [f"h{i}" for i in order if plan[i][1]]
    reported: list[str] = []
    try:
        bus.publish(Event(ITEM, "upsert", _rec(), origin=origin))
    except PublishFailed as e:
        assert origin, "only client posts raise"
        reported = [f.handler for f in e.failures]
    assert ran == order
    assert (reported if origin else [f.handler for f in supervised]) == failing
    assert bus.failures == len(failing)
