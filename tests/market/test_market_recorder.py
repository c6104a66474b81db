"""Recorder and replayer: a replay republishes the recorded records exactly."""

from __future__ import annotations

import asyncio
import functools
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.bus import ColumnBatch, Event, InProcessBus, RecordingBus
from openmlink.clock import SimClock
from openmlink.market import (
    MarketSimulator,
    Recorder,
    RecordingError,
    Replayer,
    SimConfig,
    SourceError,
    read_recording,
)
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


# ---------------------------------------------------------------------- bad recordings
@functools.cache
def _recording() -> tuple[bytes, int]:
    """A recording (bytes) and its message count, made once."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "rec.oml"
        n = len(_record(path, steps=40))
        return path.read_bytes(), n


def _read_all(path) -> tuple[int, RecordingError | None]:
    n = 0
    try:
        for _ in read_recording(path):
            n += 1
    except RecordingError as e:
        return n, e
    return n, None


def test_missing_or_foreign_files_are_refused_by_prepare(tmp_path):
    with pytest.raises(RecordingError, match="cannot read: No such file"):
        Replayer(tmp_path / "missing.oml").prepare(SimClock(0))
    (tmp_path / "x.oml").write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(RecordingError, match="not an openmlink recording"):
        Replayer(tmp_path / "x.oml").prepare(SimClock(0))
    with pytest.raises(SourceError, match="speed must be a positive number"):
        Replayer(tmp_path / "x.oml", speed=-2).prepare(SimClock(0))
    data, _n = _recording()
    (tmp_path / "ok.oml").write_bytes(data)
    summary = Replayer(tmp_path / "ok.oml", speed=None).prepare(SimClock(0))
    assert "ok.oml" in summary and "as fast as possible" in summary


@given(st.floats(0.0, 1.0, exclude_max=True))
@settings(max_examples=60, deadline=None)
def test_a_truncated_recording_replays_a_prefix_then_says_where_it_ends(tmp_path_factory, frac):
    data, total = _recording()
    path = tmp_path_factory.mktemp("rec") / "cut.oml"
    cut = int(len(data) * frac)
    path.write_bytes(data[:cut])
    n, err = _read_all(path)
    assert err is not None  # the cut never falls at the very end
    assert n < total
    assert str(path) in str(err)
    assert "truncated" in err.reason or "not an openmlink recording" in err.reason


@given(st.data())
@settings(max_examples=60, deadline=None)
def test_corrupt_bytes_give_a_recording_error_or_a_clean_read_never_a_crash(tmp_path_factory,
                                                                           data):
    raw, _total = _recording()
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(buf) - 1))
        buf[at] = data.draw(st.integers(0, 255))
    path = tmp_path_factory.mktemp("rec") / "bad.oml"
    path.write_bytes(bytes(buf))
    _n, err = _read_all(path)
    if err is not None:
        assert err.offset is None or 0 <= err.offset < len(buf)


def test_replayer_run_raises_the_recording_error_of_a_corrupt_middle(tmp_path):
    data, total = _recording()
    path = tmp_path / "half.oml"
    path.write_bytes(data[: len(data) // 2])
    rp = Replayer(path, speed=None)
    rp.prepare(SimClock(0))  # the header is fine: the damage shows while replaying
    with pytest.raises(RecordingError, match="truncated"):
        asyncio.run(rp.run(InProcessBus(), SimClock(0)))
    assert 0 <= rp.published < total
