"""stripeFilter partitions symbols into mutually exclusive stripes."""

from __future__ import annotations

import numpy as np
import pytest

from openmlink.gateway._stripes import STRIPES, stripe_bound
from openmlink.query import QueryError, where_mask
from openmlink.schema import TickerKey, registry
from openmlink.store import Table

SYMS = ["AAPL", "AMZN", "COIN", "GOOG", "GOOGL", "IWM", "LRCX", "META", "NFLX", "NVDA", "NVDAX",
        "QQQ", "QQQM", "SPX", "SPXW", "SPY", "SPYG", "TSLA", "TSLAA", "ZM", "NDX", "VXX", "XSP", "A"]


def _table() -> Table:
    t = Table(registry()["StockBookQuote"])
    for s in SYMS:
        t.upsert({"ticker": TickerKey("EQT", "NMS", s)})
    t.upsert({"ticker": TickerKey("FUT", "CME", "@ES")})
    t.upsert({"ticker": TickerKey("IDX", "CIDX", "VIX9D")})
    return t


def _members(t: Table, name: str) -> set[str]:
    b = stripe_bound(t.mt, name)
    rows = np.flatnonzero(where_mask(t, b))
    return {t.record(int(r))["ticker"].tk for r in rows}


def test_every_symbol_is_in_exactly_one_leaf_stripe():
    t = _table()
    leaves = [s for s in STRIPES if len(s) == 2 or s in ("S", "V")]
    owners: dict[str, list[str]] = {}
    for s in leaves:
        for sym in _members(t, s):
            owners.setdefault(sym, []).append(s)
    assert all(len(v) == 1 for v in owners.values()), owners
    assert set(owners) == {*SYMS, "@ES", "VIX9D"}
    assert owners["SPX"] == ["S"] and owners["SPY"] == ["M2"] and owners["QQQ"] == ["M3"]
    assert owners["AAPL"] == ["A1"] and owners["AMZN"] == ["A2"] and owners["TSLA"] == ["H1"]
    assert owners["@ES"] == ["X1"] and owners["VIX9D"] == ["I1"] and owners["QQQM"] == ["G1"]
    assert _members(t, "A") == {"A", "AAPL", "AMZN"}
    assert _members(t, "M") == {"NDX", "SPY", "VXX", "QQQ", "IWM"}


def test_unknown_stripe_is_a_clear_error():
    with pytest.raises(QueryError, match="unknown stripe 'Q9'"):
        stripe_bound(registry()["StockBookQuote"], "Q9")
