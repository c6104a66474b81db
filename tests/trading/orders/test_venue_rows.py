"""The venue's journal rows (a full row now and then, delta rows in between): an order manager
that dies at any commit of a seeded run of orders, replaces, cancels, quote moves and waits
restarts with the same venue and the same children, and goes on exactly as a restart from a
journal written before the delta rows (one full row)."""

from __future__ import annotations

import dataclasses
import math
import sqlite3
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openmlink.clock import SimClock
from openmlink.trading import TradingConfig
from openmlink.trading.orders import _venuerow
from openmlink.trading.venue import VenueConfig, VenueRowError, VenueState
from tests.support.trading import EXPIRY, TradingRig

EX = "SpdrParentExecution"
_VENUE = VenueConfig(jitter_ns=150_000, prob_fill_on_limit=0.5, prob_slippage=0.3,
                     partial_fill_max_pieces=3)
_CFG = TradingConfig(key_rate=0, accnt_rate=0, seed=7)
_SERIES = ((200, "Put"), (205, "Call"), (195, "Put"))


def _script(seed: int, n: int) -> list[tuple[Any, ...]]:
    """``n`` steps drawn from ``seed``: quote moves (touching, crossing, away from the
    children), orders (buy and sell, takers and makers), replaces and cancels of posted orders,
    waits of a few ticks."""
    rng = np.random.default_rng(seed)
    out: list[tuple[Any, ...]] = [("quote", 0, 0, 20, 5), ("quote", 1, 0, 20, 5),
                                  ("quote", 2, 1, 9, 9)]
    codes = 0
    for k in rng.choice(("quote", "order", "replace", "cancel", "wait", "wait"), n):
        if k == "quote":
            out.append(("quote", int(rng.integers(0, 3)), int(rng.integers(-3, 4)),
                        int(rng.integers(1, 25)), int(rng.integers(1, 25))))
        elif k == "order" or codes == 0:
            codes += 1
            out.append(("order", int(rng.integers(0, 3)), int(rng.choice((1, -1))),
                        int(rng.integers(-4, 5)), int(rng.integers(1, 15)), codes))
        elif k == "replace":
            out.append(("replace", int(rng.integers(1, codes + 1)), int(rng.integers(-4, 5)),
                        int(rng.integers(1, 15))))
        elif k == "cancel":
            out.append(("cancel", int(rng.integers(1, codes + 1))))
        else:
            out.append(("wait", float(rng.choice((0.15, 0.3, 1.0, 5.0))),
                        int(rng.integers(1, 4))))
    return out


class _Book:
    """What the steps posted: the quotes in force and the orders (to replace or cancel)."""

    def __init__(self) -> None:
        self.quotes: dict[int, tuple[float, float, int, int]] = {}
        self.orders: dict[int, dict[str, Any]] = {}


def _mid(i: int) -> float:
    return (4.95, 3.95, 5.95)[i]


def _sec(i: int) -> dict[str, Any]:
    strike, cp = _SERIES[i]
    return {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": EXPIRY, "xx": strike, "cp": cp}


def _quote(r: TradingRig, i: int, q: tuple[float, float, int, int]) -> None:
    strike, cp = _SERIES[i]
    r.option("AAPL", strike, cp, q[0], q[1], bsz=q[2], asz=q[3])


def _market(r: TradingRig, book: _Book) -> None:
    """Every quote in force posted again (a restarted store is empty), in the order the series
    were first quoted: the store's row order, the order the venue re-reads a tick's series in
    (and so draws its maker-fill chances in)."""
    r.stock("AAPL", 199.9, 200.1)
    for i, q in book.quotes.items():
        _quote(r, i, q)


def _apply(r: TradingRig, book: _Book, s: tuple[Any, ...]) -> None:
    if s[0] == "quote":
        _, i, off, bsz, asz = s
        bid = round(_mid(i) - 0.05 + off * 0.05, 2)
        book.quotes[i] = (bid, round(bid + 0.1, 2), bsz, asz)
        r.stock("AAPL", 199.9, 200.1)
        _quote(r, i, book.quotes[i])
    elif s[0] == "order":
        _, i, side, off, size, code = s
        o = {"secKey": _sec(i), "orderSide": "Buy" if side > 0 else "Sell",
             "orderPrcLimit": round(_mid(i) + off * 0.05, 2), "orderSize": size,
             "groupingCode": f"0000-0000-0000-{code:04X}"}
        book.orders[code] = o
        r.order(**o)
    elif s[0] == "replace":
        _, code, off, size = s
        o = book.orders[code]
        o = book.orders[code] = {**o, "orderPrcLimit": round(o["orderPrcLimit"] + off * 0.05, 2),
                                 "orderSize": size}
        r.order(spdrActionType="Replace", **o)
    elif s[0] == "cancel":
        r.order(spdrActionType="Cancel", **book.orders[s[1]])
    else:
        r.advance(s[1], s[2])


def _fills(rigs: list[TradingRig]) -> list[tuple[Any, ...]]:
    seen: dict[int, tuple[Any, ...]] = {}
    for r in rigs:
        for f in r.published(EX):
            seen.setdefault(f["fillNumber"], (f["fillNumber"], f["parentNumber"],
                                              f["fillQuantity"], f["fillPrice"], f["fillExch"],
                                              f["childMakerTaker"], f["childPrice"],
                                              f["childDttm"], f["timestamp"]))
    return sorted(seen.values())


def _venue(r: TradingRig) -> Any:
    """The venue's state (but its clock: a commit where only time passed writes no row, and a
    restarted venue's clock is the process's)."""
    v = r.engine.manager.venue
    return VenueState(orjson.loads(orjson.dumps(v.snapshot(_venuerow._series_out))),
                      _venuerow._series_in).key()[1:]


def _nn(x: Any) -> Any:
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, tuple | list):
        return tuple(_nn(y) for y in x)
    return x


def _children(r: TradingRig) -> dict[Any, list[Any]]:
    """Each broker's children the venue holds, in the broker's order, every field."""
    m = r.engine.manager
    return {k: [_nn(dataclasses.astuple(c)) for c in b.children.values()
                if c.child_id in m.venue.holding()] for k, b in m.brokers.items() if b.children}


def _old_layout(r: TradingRig) -> None:
    """Rewrite the journal as the code before the delta rows wrote it: one venue row (no
    ``base``), no delta rows, holding the state at the last commit."""
    m = r.engine.manager
    j = m.journal
    assert j is not None
    body = orjson.loads(_venuerow.full_body(m, 0))
    del body["base"]
    j.commit([(*_venuerow.VENUE_KEY, orjson.dumps(body))],
             [(_venuerow.DELTA_NS, k) for k, _ in j.items(_venuerow.DELTA_NS)])


def _copy(src: Path, dst: Path) -> None:
    """A consistent copy of a data dir's journal (SQLite's backup: the WAL included)."""
    dst.mkdir()
    with sqlite3.connect(src / "trading.sqlite3") as a, \
            sqlite3.connect(dst / "trading.sqlite3") as b:
        a.backup(b)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32 - 1), st.integers(10, 45), st.data())
def test_a_manager_killed_at_any_commit_restarts_with_the_same_venue_and_fills(
        tmp_path_factory: pytest.TempPathFactory, seed: int, n: int, data: st.DataObject) -> None:
    """Killed after a drawn step: the restart (full row + deltas) has the venue, the held
    children, the child id sequence and the RNGs the killed manager had, and goes on with the
    same fills as a restart from the same state in the older layout (one full row), and as
    the run that was not killed (the market posted again at the same step: the restarted
    store is empty): a restarted manager holds its brokers and series in the order the
    killed one did (``Broker.made``/``opened``/``series_made``), so it works them, sends
    children and draws the venue's chances in the same order."""
    script = _script(seed, n)
    cut = data.draw(st.integers(3, len(script)), label="steps before the kill")
    deltas_max = data.draw(st.sampled_from((2, 5, _venuerow.DELTAS_MAX)), label="DELTAS_MAX")
    tmp = tmp_path_factory.mktemp("rows")
    with mock.patch.object(_venuerow, "DELTAS_MAX", deltas_max):
        r1, book = TradingRig(data_dir=tmp / "b", config=_CFG, venue=_VENUE), _Book()
        for s in script[:cut]:
            _apply(r1, book, s)
        j = r1.engine.manager.journal
        assert j is not None
        assert j.count(_venuerow.DELTA_NS) <= deltas_max
        _copy(tmp / "b", tmp / "c")
        _old_layout(r1)  # b: the older layout; c: full row + deltas
        # the process dies here (no flush, no close); the restarts run on from the same time
        runs = []
        for d in ("c", "b"):
            r2, book2 = TradingRig(data_dir=tmp / d, config=_CFG, venue=_VENUE,
                                   clock=SimClock(r1.clock.time_ns())), _Book()
            r2._pn = getattr(r1, "_pn", 0x1000)
            book2.quotes, book2.orders = dict(book.quotes), dict(book.orders)
            assert _venue(r2) == _venue(r1)
            assert _children(r2) == _children(r1)
            m1, m2 = r1.engine.manager, r2.engine.manager
            assert m2.child_seq == m1.child_seq
            assert m2.rng.bit_generator.state == m1.rng.bit_generator.state
            _market(r2, book2)
            for s in script[cut:]:
                _apply(r2, book2, s)
            r2.advance(30, 6)
            runs.append(_fills([r1, r2]))
        r0, book0 = TradingRig(data_dir=tmp / "a", config=_CFG, venue=_VENUE), _Book()
        for s in script[:cut]:
            _apply(r0, book0, s)
        _market(r0, book0)
        for s in script[cut:]:
            _apply(r0, book0, s)
        r0.advance(30, 6)
    assert runs[0] == runs[1] == _fills([r0])


def test_delta_rows_stay_bounded_and_a_full_row_compacts_them(tmp_path: Path) -> None:
    """A long run writes delta rows between full rows; the journal never holds more than
    ``DELTAS_MAX`` of them, and a full row deletes them in its own commit."""
    script = _script(5, 120)
    r, book = TradingRig(data_dir=tmp_path, config=_CFG, venue=_VENUE), _Book()
    j = r.engine.manager.journal
    assert j is not None
    seen, compacted = 0, 0
    with mock.patch.object(_venuerow, "DELTAS_MAX", 4):
        for s in script:
            before = j.count(_venuerow.DELTA_NS)
            _apply(r, book, s)
            now = j.count(_venuerow.DELTA_NS)
            assert now <= 4
            seen = max(seen, now)
            compacted += now < before
    assert seen == 4 and compacted > 0
    assert j.count(_venuerow.VENUE_KEY[0]) == 1
    assert _fills([r])  # the run traded


def _journal_with_deltas(tmp: Path, seed: int) -> tuple[TradingRig, list[str]]:
    """A run with DELTAS_MAX large enough that every commit since the first full row wrote a
    delta row; the delta rows' keys after the full row."""
    r, book = TradingRig(data_dir=tmp, config=_CFG, venue=_VENUE), _Book()
    with mock.patch.object(_venuerow, "DELTAS_MAX", 10_000), \
            mock.patch.object(_venuerow, "BUDGET", 1e9):
        for s in _script(seed, 40):
            _apply(r, book, s)
    j = r.engine.manager.journal
    assert j is not None
    full, deltas, _keys = _venuerow.read_rows(j)
    assert full is not None
    return r, [k for k, _ in deltas]


def _drop(src: Path, dst: Path, key: str) -> None:
    """A copy of the journal without one delta row (a commit a standby never received)."""
    _copy(src, dst)
    with sqlite3.connect(dst / "trading.sqlite3") as c:
        n = c.execute("DELETE FROM journal WHERE ns = ? AND k = ?", (_venuerow.DELTA_NS, key))
        assert n.rowcount == 1


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32 - 1), st.data())
def test_a_journal_missing_a_delta_row_refuses_to_restore_naming_the_row(
        tmp_path_factory: pytest.TempPathFactory, seed: int, data: st.DataObject) -> None:
    """Any one delta row but the last taken out: the restart raises ``VenueRowError`` naming
    the row after the gap and the missing one (a venue restored from part of its changes
    would lose or repeat fills); the journal itself restores to the venue it was written for.
    The last delta taken out is the journal one commit earlier (a commit is atomic: its other
    rows go with it), which restores."""
    tmp = tmp_path_factory.mktemp("gap")
    r1, keys = _journal_with_deltas(tmp / "a", seed)
    assert len(keys) >= 3
    _copy(tmp / "a", tmp / "ok")
    r2 = TradingRig(data_dir=tmp / "ok", config=_CFG, venue=_VENUE,
                    clock=SimClock(r1.clock.time_ns()))
    assert _venue(r2) == _venue(r1)
    i = data.draw(st.integers(0, len(keys) - 2), label="delta row taken out")
    _drop(tmp / "a", tmp / "b", keys[i])
    with pytest.raises(VenueRowError) as e:
        TradingRig(data_dir=tmp / "b", config=_CFG, venue=_VENUE,
                   clock=SimClock(r1.clock.time_ns()))
    msg = str(e.value)
    assert f"{_venuerow.DELTA_NS}/{keys[i + 1]}" in msg and f"{keys[i]} is missing" in msg
    _drop(tmp / "a", tmp / "c", keys[-1])
    TradingRig(data_dir=tmp / "c", config=_CFG, venue=_VENUE, clock=SimClock(r1.clock.time_ns()))


def test_a_delta_naming_a_child_the_rows_do_not_hold_refuses_to_restore(tmp_path: Path) -> None:
    """Numbers in order but a delta that moves (``mods``) or queues (``rested``) a child no
    row before it holds: ``VenueRowError`` naming that row, not a KeyError."""
    r1, keys = _journal_with_deltas(tmp_path / "a", 11)
    for field in ("mods", "rested"):
        dst = tmp_path / field
        _copy(tmp_path / "a", dst)
        with sqlite3.connect(dst / "trading.sqlite3") as c:
            (body,) = c.execute("SELECT body FROM journal WHERE ns = ? AND k = ?",
                                (_venuerow.DELTA_NS, keys[-1])).fetchone()
            d = orjson.loads(body)
            if field == "mods":
                d["mods"] = {"cid": [*d["mods"]["cid"], 999_999],
                             "mod": [*d["mods"]["mod"], None]}
            else:
                d["venue"]["rested"].append(999_999)
            c.execute("UPDATE journal SET body = ? WHERE ns = ? AND k = ?",
                      (orjson.dumps(d), _venuerow.DELTA_NS, keys[-1]))
        with pytest.raises(VenueRowError, match=f"{_venuerow.DELTA_NS}/{keys[-1]}: .*999999"):
            TradingRig(data_dir=dst, config=_CFG, venue=_VENUE,
                       clock=SimClock(r1.clock.time_ns()))


def test_a_delta_of_another_full_row_refuses_to_restore(tmp_path: Path) -> None:
    """Numbers in order but a delta naming a full row other than the journal's (its own full
    row's commit was lost): ``VenueRowError`` naming the row."""
    r1, keys = _journal_with_deltas(tmp_path / "a", 12)
    _copy(tmp_path / "a", tmp_path / "b")
    with sqlite3.connect(tmp_path / "b" / "trading.sqlite3") as c:
        (body,) = c.execute("SELECT body FROM journal WHERE ns = ? AND k = ?",
                            (_venuerow.DELTA_NS, keys[1])).fetchone()
        d = orjson.loads(body)
        d["base"] += 1
        c.execute("UPDATE journal SET body = ? WHERE ns = ? AND k = ?",
                  (orjson.dumps(d), _venuerow.DELTA_NS, keys[1]))
    with pytest.raises(VenueRowError, match=f"{_venuerow.DELTA_NS}/{keys[1]} .*follows full row"):
        TradingRig(data_dir=tmp_path / "b", config=_CFG, venue=_VENUE,
                   clock=SimClock(r1.clock.time_ns()))
