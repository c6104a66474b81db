"""The runtime: timers on clock time (a simulated clock drives the implied-quote Loop),
sources prepared before anything starts, a source failing while running ends the run (or not,
with keep_serving), start-up lines."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.bus import InProcessBus
from openmlink.clock import SimClock
from openmlink.engines.implied import EngineConfig
from openmlink.errors import StartupError
from openmlink.gateway import ApiKeys
from openmlink.market import (
    ChainFormatError,
    ChainSource,
    MarketSimulator,
    Recorder,
    RecordingError,
    Replayer,
    SimConfig,
    SourceError,
)
from openmlink.runtime import Runtime, Timers
from openmlink.schema._values import datetime_from_text
from tests.support.paths import FIXTURES
from tests.support.process import ServeProcess

S = 1_000_000_000
START = datetime_from_text("2026-11-23 15:00:00")


async def _settle(real_s: float = 0.02) -> None:
    """Let the timer tasks look at the clock (they poll every resolution_s of real time)."""
    await asyncio.sleep(real_s)


@given(interval=st.integers(1, 120), first=st.integers(0, 120),
       steps=st.lists(st.integers(0, 200), min_size=1, max_size=12))
@settings(max_examples=40, deadline=None)
def test_a_timer_runs_on_clock_time_as_the_model_says(interval, first, steps):
    """Model: due = start + first; whenever the clock is at or past due the callback runs once
    and the next due is that time + interval (no catching up on missed periods)."""

    async def main() -> tuple[int, int]:
        clock = SimClock(START)
        timers = Timers(clock, resolution_s=0.001)
        runs: list[int] = []
        timers.every(interval, lambda: runs.append(clock.time_ns()), name="t", first_in=first)
        timers.start()
        due, expect = START + first * S, 0
        await _settle()
        if clock.time_ns() >= due:
            expect, due = expect + 1, clock.time_ns() + interval * S
        for step in steps:
            clock.advance_to(clock.time_ns() + step * S)
            await _settle()
            if clock.time_ns() >= due:
                expect, due = expect + 1, clock.time_ns() + interval * S
        await timers.stop()
        return len(runs), expect

    got, expect = asyncio.run(main())
    assert got == expect


def test_an_async_timer_is_not_started_again_while_it_runs_and_a_failure_is_logged(caplog):
    async def main() -> list[str]:
        clock = SimClock(START)
        timers = Timers(clock, resolution_s=0.001)
        seen: list[str] = []
        gate = asyncio.Event()

        async def slow() -> None:
            seen.append("start")
            await gate.wait()
            seen.append("end")
            raise RuntimeError("boom")

        timers.every(1, slow, name="slow", first_in=0)
        timers.start()
        await _settle()
        clock.advance_to(START + 10 * S)  # many intervals pass while it runs
        await _settle()
        assert seen == ["start"]
        gate.set()
        await _settle()
        await timers.stop()
        return seen

    assert asyncio.run(main())[:2] == ["start", "end"]
    assert "timer slow failed" in caplog.text and "boom" in caplog.text


def test_timer_interval_must_be_positive():
    with pytest.raises(ValueError, match="interval must be > 0"):
        Timers(SimClock(0)).every(0, lambda: None, name="zero")


def test_the_implied_quote_loop_follows_simulated_time():
    """First pass at once (no kernels to warm here), then one per 60 s of *clock* time."""
    lines: list[str] = []
    clock = SimClock(START)
    rt = Runtime(clock, [], say=lines.append)
    rt.prepare()
    plat = rt.build(ApiKeys(), engine_config=EngineConfig(loop_interval_s=60.0))
    rt.timers.resolution_s = 0.001
    assert plat.engine is not None

    async def passes(want: int) -> int:
        """The engine's pass count once it reaches ``want`` (5 s at most), or after a short
        look when it should not change."""
        for _ in range(500):
            if plat.engine.loops >= want:
                break
            await asyncio.sleep(0.01)
        await _settle(0.05)
        return plat.engine.loops

    async def main() -> list[int]:
        await rt.start()
        loops = [await passes(1)]
        for t, want in ((30, 1), (59, 1), (61, 2), (100, 2), (125, 3)):
            clock.advance_to(START + t * S)
            loops.append(await passes(want))
        await rt.stop()
        return loops

    assert asyncio.run(main()) == [1, 1, 1, 2, 2, 3]
    assert any(ln.startswith("analytics: first Loop pass done: 0 series in ") for ln in lines)


def test_sources_are_prepared_before_anything_is_built():
    lines: list[str] = []
    bad = ChainSource([FIXTURES / "cboe" / "spy_2023-09-14.csv", FIXTURES / "cboe" / "bad_date.csv"])
    rt = Runtime(SimClock(START), [bad], say=lines.append)
    with pytest.raises(ChainFormatError, match="line 3: date '2023-09-14 16:31' not understood"):
        rt.prepare()
    assert rt.platform is None and lines == []
    sim = MarketSimulator(SimConfig(universe="bogus"))
    with pytest.raises(SourceError, match="universe must be default, small, full or a series"):
        Runtime(SimClock(START), [sim]).prepare()
    ok = Runtime(SimClock(START), [MarketSimulator(SimConfig(universe="small", seed=1))],
                 say=lines.append)
    ok.prepare()
    assert lines[0].startswith("market: simulator: universe small, ") and " series on 4 " in lines[0]


class _Broken:
    """A source whose files vanish between checks (an OSError from prepare)."""

    name = "broken"

    def prepare(self, clock: object) -> str:
        raise PermissionError(13, "Permission denied", "/data/feed.bin")

    async def run(self, bus: object, clock: object) -> None:  # pragma: no cover - never runs
        raise AssertionError

    def close(self) -> None:
        pass


def test_an_os_error_in_prepare_becomes_one_startup_line():
    with pytest.raises(SourceError) as e:
        Runtime(SimClock(0), [_Broken()]).prepare()
    assert e.value.one_line() == ("SourceError: broken: [Errno 13] Permission denied: "
                                  "'/data/feed.bin'")
    assert isinstance(e.value, StartupError)


def _truncated_recording(d: Path) -> Path:
    clock = SimClock(START)
    bus = InProcessBus()
    path = d / "rec.oml"
    rec = Recorder(path, clock)
    rec.attach(bus)
    sim = MarketSimulator(SimConfig(seed=2, universe="small"), start_ns=START)
    for m in sim.snapshot():
        bus.publish(m)
    rec.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


@pytest.mark.parametrize("keep_serving", [False, True])
def test_a_replay_corrupt_in_the_middle_ends_the_run_unless_keep_serving(keep_serving):
    with tempfile.TemporaryDirectory() as d:
        path = _truncated_recording(Path(d))
        lines: list[str] = []
        rt = Runtime(SimClock(START), [Replayer(path, speed=None)], keep_serving=keep_serving,
                     say=lines.append)
        rt.prepare()  # the header is fine
        rt.build(ApiKeys(), analytics=False)

        async def main() -> bool:
            await rt.start()
            assert rt._stop is not None
            try:
                await asyncio.wait_for(rt._stop.wait(), 10)
                stopped = True
            except TimeoutError:
                stopped = False
            await rt.stop()
            return stopped

        stopped = asyncio.run(main())
    assert len(rt.failures) == 1
    line = rt.failures[0]
    assert line.startswith(f"RecordingError: {path} at byte ") and "truncated" in line
    assert line in lines
    if keep_serving:
        assert not stopped and rt.exit_code == 0
        assert "market: replay stopped; still serving (--keep-serving)" in lines
    else:
        assert stopped and rt.exit_code == 1


def test_a_recording_error_is_a_startup_error_with_one_line():
    e = RecordingError("x.oml", 12, "truncated (a frame length cut short)")
    assert e.one_line() == "RecordingError: x.oml at byte 12: truncated (a frame length cut short)"


# ---------------------------------------------------------------------- cold start
def _rows(srv: ServeProcess, key: str, mtype: str, fields: str) -> list[dict]:
    got = requests.get(f"{srv.base}/rest/json", params={
        "apiKey": key, "cmd": "getmsgs", "msgType": mtype, "view": fields, "limit": 100000},
        timeout=60).json()
    return [m["message"] for m in got if m["header"]["mTyp"] == mtype]


def _american_roots(srv: ServeProcess, key: str) -> set[str]:
    roots = _rows(srv, key, "RootDefinition", "exerciseType")
    return {r["pkey"]["root"]["tk"] for r in roots if r["exerciseType"] == "American"}


def test_a_server_on_an_empty_numba_cache_publishes_preliminary_rows_then_accurate_ones(
        tmp_path: Path) -> None:
    """A fresh ``openmlink serve`` with an empty Numba cache (a temporary NUMBA_CACHE_DIR):
    the first LiveImpliedQuote rows come from the first kernel stage (European values with a
    surface vol and greeks, the rows of American roots flagged calcSource None, priceType
    Future), then every kernel is compiled
    by a child process into that cache and the next Loop pass values American roots with the
    American model (calcSource Loop, priceType Equity).  The times are bench_cold_start's."""
    cache = tmp_path / "numba"
    srv = ServeProcess("--no-persist", "--no-sql", "--universe", "small", "--seed", "5",
                       env={"NUMBA_CACHE_DIR": str(cache)})
    try:
        key = srv.wait_for(r"^openmlink: development API key: (\S+)$", 60).group(1)
        srv.wait_for(r"^openmlink: analytics: first preliminary pass done: \d+ series", 900)
        rows = _rows(srv, key, "LiveImpliedQuote", "calcSource,priceType,sVol,de,ga,calcErr")
        said = list(srv.lines)
        amer = _american_roots(srv, key)
        assert amer and rows
        assert not any(ln.startswith("openmlink: analytics: kernels ready") for ln in said), said
        # real values, not placeholders: a surface vol and greeks on (almost) every row
        good = [r for r in rows if r.get("calcErr", "None") == "None"]
        assert len(good) >= 0.95 * len(rows)
        assert all(0.01 < r["sVol"] < 5.0 and abs(r["de"]) <= 1.0 and r["ga"] >= 0 for r in good)
        assert sum(r["de"] != 0 and r["ga"] > 0 for r in good) >= 0.9 * len(good)
        for r in rows:
            if r["pkey"]["okey"]["tk"] in amer:
                # (an enum field at its None value is left out of the JSON record)
                assert (r.get("calcSource", "None"), r["priceType"]) == ("None", "Future"), r
            else:
                assert r.get("calcSource") in ("Loop", "Tick"), r
        assert {r["pkey"]["okey"]["tk"] for r in rows} & amer  # American roots were valued too
        srv.wait_for(r"^openmlink: analytics: kernels ready in", 900)
        srv.wait_for(r"^openmlink: analytics: first Loop pass done: \d+ series", 300)
        rows = _rows(srv, key, "LiveImpliedQuote", "calcSource,priceType")
        am_rows = [r for r in rows if r["pkey"]["okey"]["tk"] in amer]
        assert am_rows and all(r.get("calcSource") in ("Loop", "Tick") and r["priceType"] == "Equity"
                               for r in am_rows)
        assert not any("failed" in ln for ln in srv.lines), srv.lines  # no in-process fallback
        assert list(cache.rglob("*.nbi"))  # the children filled the temporary cache
    finally:
        assert srv.stop() == 0


def test_a_stepped_timer_callback_lets_the_loop_run_between_its_steps() -> None:
    """The order manager's timer (``OrderEngine.tick_steps`` through ``_stepped``): another
    task (a post) ready while a step runs is answered before the next step, not after the
    whole tick."""
    from collections.abc import Iterator

    from openmlink.runtime import _stepped

    seen: list[str] = []

    def steps() -> Iterator[None]:
        seen.append("slice 1")
        yield
        seen.append("slice 2")

    async def post() -> None:
        seen.append("post")

    async def main() -> None:
        tick = asyncio.ensure_future(_stepped(steps)())
        other = asyncio.ensure_future(post())
        await asyncio.gather(tick, other)

    asyncio.run(main())
    assert seen == ["slice 1", "post", "slice 2"]
