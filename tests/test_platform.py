"""``platform.column_types_read``: what a ``--role engine NAME`` process receives covers every
column type its engines subscribe to (a new subscription not listed in the engine's ``READS``
would leave the engine without its input in a distributed platform)."""

from __future__ import annotations

import pytest

from openmlink.clock import SimClock
from openmlink.gateway import ApiKeys
from openmlink.platform import ENGINES, build_platform, column_types_read

#: the types published as column batches (market sources, the implied engine's outputs, the
#: order manager's re-priced states, the risk engine's positions)
COLUMN_TYPES = frozenset({
    "OptionNbboQuote", "StockBookQuote", "StockPrint", "OptionPrint", "TickerDefinition",
    "RootDefinition", "OptExpiryDefinition", "LiveImpliedQuote", "LiveAtmVol",
    "LiveSurfaceCurve", "OptionPositionRecordV5", "SpdrParentBrkrState"})


def _subscribed(engines: frozenset[str]) -> frozenset[str]:
    plat = build_platform(ApiKeys(), clock=SimClock(1_770_000_000_000_000_000), engines=engines)
    return plat.bus.subscribed_types()


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_an_engine_group_receives_every_column_type_it_subscribes_to(engine: str) -> None:
    # what the engines subscribe to, not the platform's own parts (the SQL history keeps
    # the versions of SpdrParentBrkrState in every process)
    subscribed = (_subscribed(frozenset({engine})) - _subscribed(frozenset())) & COLUMN_TYPES
    assert subscribed or engine == "calc"  # the calculators only read the market tables
    assert subscribed <= column_types_read(frozenset({engine}))


def test_roles_read_less_than_the_whole_market() -> None:
    assert column_types_read(frozenset({"implied"})).isdisjoint(
        {"LiveImpliedQuote", "LiveAtmVol", "LiveSurfaceCurve", "OptionPrint", "StockPrint"})
    for e in ("trading", "calc"):
        assert column_types_read(frozenset({e})).isdisjoint({"OptionPrint", "StockPrint"})
        assert {"StockBookQuote", "OptionNbboQuote", "LiveImpliedQuote"} <= column_types_read(
            frozenset({e}))
    assert column_types_read(ENGINES) == (column_types_read(frozenset({"implied"}))
                                          | column_types_read(frozenset({"trading"}))
                                          | column_types_read(frozenset({"calc"})))
    with pytest.raises(ValueError, match="unknown engines"):
        column_types_read(frozenset({"nope"}))
