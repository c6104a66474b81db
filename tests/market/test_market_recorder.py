"""Recorder and replayer: a replay republishes the recorded records exactly."""

from __future__ import annotations

import asyncio

import numpy as np

from openmlink.bus import ColumnBatch, Event, InProcessBus, RecordingBus
from openmlink.clock import SimClock
from openmlink.market import MarketSimulator, Recorder, Replayer, SimConfig, read_recording
from openmlink.schema import registry
from openmlink.schema._values import datetime_from_text
from openmlink.store import Store

START = datetime_from_text("2026-11-23 15:00:00")
STEP = 250_000_000


def _record(path, steps=6):
    clock = SimClock(START)
    bus = RecordingBus()
    rec = Recorder(path, clock)
    rec.attach(bus)
    sim = MarketSimulator(SimConfig(seed=3, universe="small", quote_rate=0.1), start_ns=START)
    for m in sim.snapshot():
        bus.publish(m)
    for _ in range(steps):
        msgs = sim.step(STEP)
        clock.advance_to(sim.now_ns)
        for m in msgs:
            bus.publish(m)
    rec.close()
    return bus.published


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert type(x) is type(y) and x.mt.name == y.mt.name and x.sent_ts == y.sent_ts
        if isinstance(x, ColumnBatch):
            assert list(x.data) == list(y.data)
            for k in x.data:
                ax, ay = np.asarray(x.data[k]), np.asarray(y.data[k])
                if ax.dtype.kind in "OU":
                    assert ax.astype(str).tolist() == ay.astype(str).tolist(), k
                else:
                    assert ax.dtype == ay.dtype and np.array_equal(ax, ay), k
        else:
            assert isinstance(x, Event) and (x.kind, x.merge, x.rec) == (y.kind, y.merge, y.rec)


def test_replay_reproduces_the_recorded_records_exactly(tmp_path):
    path = tmp_path / "rec.oml"
    published = _record(path)
    replayed = RecordingBus()
    n = Replayer(path, speed=None).replay_all(replayed)
    assert n == len(published)
    _assert_same(published, replayed.published)


def test_replayed_tables_equal_the_live_tables(tmp_path):
    path = tmp_path / "rec.oml"
    live = Store(registry())
    clock = SimClock(START)
    bus = InProcessBus()
    live.attach(bus)
    rec = Recorder(path, clock)
    rec.attach(bus)
    sim = MarketSimulator(SimConfig(seed=9, universe="small"), start_ns=START)
    for m in sim.snapshot() + sim.step(STEP) + sim.step(STEP):
        bus.publish(m)
    rec.close()
    again = Store(registry())
    bus2 = InProcessBus()
    again.attach(bus2)
    asyncio.run(Replayer(path, speed=None).run(bus2, SimClock(0)))
    for name in ("OptionNbboQuote", "StockBookQuote", "RootDefinition", "OptExpiryDefinition"):
        t1, t2 = live.table(registry()[name]), again.table(registry()[name])
        assert len(t1) == len(t2) > 0
        for pk, row in list(t1.index.items())[:500]:
            assert t2.get(pk) == t1.record(row)


def test_paced_replay_follows_recorded_time_and_advances_the_clock(tmp_path):
    path = tmp_path / "rec.oml"
    _record(path, steps=4)  # one simulated second
    times = [t for t, _m in read_recording(path)]
    assert times == sorted(times) and times[-1] - times[0] == 4 * STEP
    clock = SimClock(0)
    bus = RecordingBus()

    async def go() -> float:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await Replayer(path, speed=10.0).run(bus, clock)
        return loop.time() - t0

    elapsed = asyncio.run(go())
    assert 0.08 <= elapsed < 2.0
    assert clock.time_ns() == times[-1]


def test_recording_is_compact(tmp_path):
    path = tmp_path / "rec.oml"
    published = _record(path, steps=10)
    quotes = sum(len(m.data["bidPrice"]) for m in published
                 if isinstance(m, ColumnBatch) and m.mt.name == "OptionNbboQuote")
    assert path.stat().st_size / quotes < 40
