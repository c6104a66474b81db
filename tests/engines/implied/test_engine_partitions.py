"""An implied-quote engine with partitions computes (Loop, Tick, surfaces) only the underliers
of its partitions, and two engines with the two halves publish what one engine publishes;
a partition gained is computed at once from the engine's book."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from openmlink.bus import ColumnBatch, InProcessBus, Partitions, parse_partition, partition_of
from openmlink.clock import SimClock
from openmlink.engines.implied import ImpliedQuoteEngine, warm_up
from openmlink.market import MarketSimulator, SimConfig
from openmlink.schema import registry

START = 1_760_000_000_000_000_000


class _Run:
    """One engine on its own bus fed the simulator's snapshot; what it published."""

    def __init__(self, snapshot: list[Any], sim: MarketSimulator,
                 parts: Partitions | None) -> None:
        self.bus = InProcessBus()
        self.eng = ImpliedQuoteEngine(self.bus, SimClock(sim.now_ns), master=lambda: sim.master,
                                      partitions=parts)
        self.eng.ready = False
        self.eng.attach()
        for m in snapshot:
            self.bus.publish(m)
        self.eng.ready = True
        self.rows: list[tuple[str, str, int, float, int]] = []  # (und, root, dt, strike, cp)
        self.rates: list[tuple[str, int, float]] = []  # (und, dt, rate)
        self.surfaces: set[str] = set()
        self.bus.subscribe("LiveImpliedQuote", self._liq)
        self.bus.subscribe("LiveSurfaceCurve", self._surf)

    def _liq(self, m: Any) -> None:
        assert isinstance(m, ColumnBatch)
        d = m.data
        self.rows += zip(np.asarray(d["ticker.tk"]).tolist(), np.asarray(d["okey.tk"]).tolist(),
                         np.asarray(d["okey.dt"]).tolist(), np.asarray(d["okey.xx"]).tolist(),
                         np.asarray(d["okey.cp"]).tolist(), strict=True)
        self.rates += zip(np.asarray(d["ticker.tk"]).tolist(), np.asarray(d["okey.dt"]).tolist(),
                          np.asarray(d["rate"]).tolist(), strict=True)

    def _surf(self, m: Any) -> None:
        assert isinstance(m, ColumnBatch)
        self.surfaces |= set(np.asarray(m.data["ticker.tk"]).tolist())

    def keys(self) -> set[tuple[str, str, int, float, int]]:
        return set(self.rows)


def _market() -> tuple[MarketSimulator, list[Any]]:
    warm_up()
    sim = MarketSimulator(SimConfig(universe="small"), start_ns=START)
    return sim, list(sim.snapshot())


def test_two_halves_publish_what_one_engine_publishes() -> None:
    sim, snap = _market()
    one = _Run(snap, sim, None)
    halves = [_Run(snap, sim, parse_partition(f"{k}/2")) for k in (0, 1)]
    for r in (one, *halves):
        r.eng.on_timer()
    unds = {u for u, *_ in one.rows}
    assert len(unds) > 2 and {partition_of(u, 2) for u in unds} == {0, 1}  # both halves used
    for k, r in enumerate(halves):
        assert r.rows and {partition_of(u, 2) for u, *_ in r.rows} == {k}
        assert r.surfaces and {partition_of(u, 2) for u in r.surfaces} == {k}
    assert halves[0].keys() | halves[1].keys() == one.keys()
    assert not halves[0].keys() & halves[1].keys()
    assert len(halves[0].rows) + len(halves[1].rows) == len(one.rows)

    # a quote change is ticked by the engine that owns its underlier only
    row = next(i for i in range(one.eng.book.n) if one.eng.book.bid[i] > 0.5)
    b = one.eng.book
    und = b.und_names[b.exp_und[b.exp[row]]]
    quote = registry()["OptionNbboQuote"]
    from openmlink.market._columns import option_key_columns

    msg = ColumnBatch(quote, {
        **option_key_columns("okey", np.array([b.roots[int(b.root[row])].root], dtype=object),
                             b.dt[row: row + 1].copy(), b.strike[row: row + 1].copy(),
                             b.cp[row: row + 1].copy()),
        "bidPrice": np.array([b.bid[row] + 0.05]), "askPrice": np.array([b.ask[row] + 0.05]),
        "srcTimestamp": np.array([sim.now_ns + 1], np.int64)}, sim.now_ns + 1)
    before = [len(r.rows) for r in halves]
    for r in halves:
        r.bus.publish(msg)
    grew = [len(r.rows) - n for r, n in zip(halves, before, strict=True)]
    assert grew[partition_of(und, 2)] == 1 and grew[1 - partition_of(und, 2)] == 0


def test_a_partition_gained_is_computed_at_once() -> None:
    sim, snap = _market()
    parts = Partitions(4, {0}, leased=True)
    r = _Run(snap, sim, parts)
    r.eng.on_timer()
    assert {partition_of(u, 4) for u, *_ in r.rows} == {0}
    full = _Run(snap, sim, None)
    full.eng.on_timer()
    want = {k for k in full.keys() if partition_of(k[0], 4) in (1, 2)}
    assert want and {partition_of(k[0], 4) for k in full.keys()} != {0}
    r.rows.clear()
    parts.set({0, 1, 2})
    n = asyncio.run(r.eng.loop_once(frozenset({1, 2})))
    assert r.keys() == want and n == len(want)  # only the gained ones, all of them
    loops = r.eng.loops
    r.rows.clear()
    r.eng.on_timer()  # and the regular Loop covers all three from now on
    assert r.keys() == {k for k in full.keys() if partition_of(k[0], 4) in (0, 1, 2)}
    assert r.eng.loops == loops + 1


def _rates(r: _Run) -> dict[tuple[str, int], float]:
    """(underlier, expiry date) -> the rate of the LiveImpliedQuote rows published."""
    return {(u, dt): float(rt) for u, dt, rt in r.rates}


def test_every_partition_prices_on_the_curve_of_the_rate_sources() -> None:
    """The engine that does not compute SPX (the rate source of the small universe) fits its
    chain anyway: its underliers are priced on the same measured curve as in one engine, not
    on the base curve (the simulator's 4.5% is far from the shipped base curve's 5.2-5.6%)."""
    sim, snap = _market()
    one = _Run(snap, sim, None)
    halves = [_Run(snap, sim, parse_partition(f"{k}/2")) for k in (0, 1)]
    for r in (one, *halves):
        r.eng.on_timer(sim.now_ns)
    k_spx = partition_of("SPX", 2)
    other = halves[1 - k_spx]
    assert "SPX" not in {u for u, *_ in other.rows} and other.rows
    base = other.eng.rates.base
    full = _rates(one)
    mine = _rates(other)
    assert mine and set(mine) <= set(full)
    for key, rate in mine.items():
        assert rate == pytest.approx(full[key], abs=1e-12), key
    # and that curve is not the base one: the test would fail on an engine pricing on it
    t = np.array([0.25, 0.5])
    assert np.all(np.abs(other.eng.rates.curve.rate(t) - base.rate(t)) > 0.002)
    assert np.allclose(other.eng.rates.curve.rate(t), one.eng.rates.curve.rate(t), atol=1e-12)
