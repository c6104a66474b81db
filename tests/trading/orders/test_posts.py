"""The record the order adapter works from is the one the store holds: built from a whole
record post without reading the row back, read back after a merged one."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openmlink.bus import Event
from openmlink.trading.orders._posts import applied_record, stored_record
from tests.support.trading import TradingRig

_OPTIONAL: dict[str, Any] = {
    "orderDuration": st.integers(-1, 3600), "orderActiveSize": st.integers(0, 50),
    "publicSize": st.sampled_from(["None", "MktSize", "FullSize"]), "orderVolLimit": st.floats(0.01, 2.0),
    "orderLimitType": st.sampled_from(["Prc", "Vol", "Aux"]),
    "userName": st.text("abcxyz", max_size=8), "orderComment": st.text("abc ", max_size=12),
    "orderSide": st.sampled_from(["Buy", "Sell"]), "makeProbability": st.floats(0.0, 1.0),
    "parentBalanceHandling": st.sampled_from(["PostLimit", "PostWith"]),
}


def _last(r: TradingRig, name: str) -> Event:
    return [m for m in r.bus.published if isinstance(m, Event) and m.mt.name == name][-1]


def _same(a: dict[str, Any] | None, b: dict[str, Any] | None) -> None:
    assert a is not None and b is not None
    assert a == b
    assert {k: type(v) for k, v in a.items()} == {k: type(v) for k, v in b.items()}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({}, optional=_OPTIONAL), st.integers(1, 9))
def test_a_whole_order_post_is_the_stored_record(fields: dict[str, Any], g: int) -> None:
    r = TradingRig()
    r.option("AAPL", 200, "Put", 4.9, 5.1)
    r.order(groupingCode=f"0000-0000-0000-000{g}", **fields)
    ev = _last(r, "SpdrParentOrder")
    assert not ev.merge
    _same(applied_record(r.store, ev), stored_record(r.store, ev))


def test_a_merged_limit_post_is_read_back_merged() -> None:
    r = TradingRig()
    r.option("AAPL", 200, "Put", 4.9, 5.1)
    r.order(orderLimitType="Aux")
    r.limit(orderLimitType="Vol", orderActiveSize=27, orderVolLimit=0.275)
    r.limit(merge=True, orderActiveSize=44)
    ev = _last(r, "SpdrParentLimit")
    got = applied_record(r.store, ev)
    _same(got, stored_record(r.store, ev))
    assert got is not None and got["orderActiveSize"] == 44 and got["orderVolLimit"] == 0.275
