"""The Loop never starves the Tick path: its kernels run off the event loop, Ticks between chunks."""

from __future__ import annotations

import asyncio
import threading

import numpy as np

from openmlink.analytics import BoundaryTables, _quote_rows
from openmlink.bus import ColumnBatch, InProcessBus
from openmlink.clock import SimClock
from openmlink.engines.implied import EngineConfig, ImpliedQuoteEngine, _engine, warm_up
from openmlink.engines.implied._enums import ordinal
from openmlink.engines.implied._fit import fit_expiries
from openmlink.market import MarketSimulator, SimConfig
from openmlink.market._columns import option_key_columns
from openmlink.schema import registry
from openmlink.store import Store


def _small_engine(cfg: EngineConfig) -> tuple[MarketSimulator, ImpliedQuoteEngine]:
    warm_up()
    sim = MarketSimulator(SimConfig(universe="small"), start_ns=1_760_000_000_000_000_000)
    bus = InProcessBus()
    Store(registry()).attach(bus)  # the Loop publishes into live tables, as in the server
    eng = ImpliedQuoteEngine(bus, SimClock(sim.now_ns), cfg, master=lambda: sim.master)
    eng.ready = False
    eng.attach()
    for m in sim.snapshot():
        bus.publish(m)
    eng.ready = True
    return sim, eng


def test_the_event_loop_runs_other_tasks_while_a_chunk_computes(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A pass's fits run on a worker thread: each chunk's fit waits until a task on the event
    loop has run meanwhile (it would wait out its 20 s timeout if the fit held the loop), and
    the pass publishes the values of a synchronous pass over the same market."""
    _, eng = _small_engine(EngineConfig(loop_chunk_rows=300, loop_chunk_min_rows=300))
    # each pass from an empty boundary-table memo (shared by the process's engines: a table's
    # vol range is that of the rows it was built for, so values depend on the tables held, by
    # their interpolation error of ~1e-6 per 100 of strike; both passes start alike here)
    monkeypatch.setattr(_quote_rows, "_TABLES", BoundaryTables(min_rows=_quote_rows._TABLES.min_rows))
    waiting: list[threading.Event] = []  # a fit each, waiting for the event loop (the pass's
    waited: list[bool] = []  # workers may run several chunks' fits at once)

    def fit_waiting(inp):  # type: ignore[no-untyped-def]
        served = threading.Event()
        waiting.append(served)
        waited.append(served.wait(timeout=20.0))
        return fit_expiries(inp)

    monkeypatch.setattr(_engine, "fit_expiries", fit_waiting)
    got: list[dict[str, np.ndarray]] = []
    eng.bus.subscribe("LiveImpliedQuote", lambda m: got.append(dict(m.data)))

    async def main() -> int:
        async def probe() -> None:
            while True:
                await asyncio.sleep(0.001)
                while waiting:
                    waiting.pop().set()

        p = asyncio.create_task(probe())
        n = await eng.loop_once()
        p.cancel()
        return n

    n = asyncio.run(main())
    assert n == eng.book.n and len(waited) >= 3 and all(waited), waited
    monkeypatch.setattr(_engine, "fit_expiries", fit_expiries)
    _, twin = _small_engine(eng.config)  # the same market, one synchronous pass
    monkeypatch.setattr(_quote_rows, "_TABLES", BoundaryTables(min_rows=_quote_rows._TABLES.min_rows))
    sync_got: list[dict[str, np.ndarray]] = []
    twin.bus.subscribe("LiveImpliedQuote", lambda m: sync_got.append(dict(m.data)))
    assert twin.on_timer() == n
    threaded, sync = _by_key(got), _by_key(sync_got)
    assert threaded.keys() == sync.keys() and len(sync) == n
    # quote IVs agree to 1e-9; fitted values to 1e-5: the vector kernels' lane/tail split differs
    # with the chunk, ~1e-13 in the IVs, and the SVI fit of a same-day expiry (t = 0.0013)
    # amplifies that to ~1e-7 (sVol) and 1.2e-6 (gamma); a misplaced row is off by far more
    for key, row in sync.items():
        for col, a in row.items():
            b = threaded[key][col]
            tol = 1e-9 if col == "oBidIv" else 1e-5
            assert abs(a - b) <= tol * max(1.0, abs(a)) or (np.isnan(a) and np.isnan(b)), \
                (key, col, a, b)


def _by_key(batches: list[dict[str, np.ndarray]]) -> dict[tuple, dict[str, float]]:
    """Loop rows by (root, expiry, strike, side): their numeric values."""
    out: dict[tuple, dict[str, float]] = {}
    for d in batches:
        keys = zip(np.asarray(d["okey.tk"]).tolist(), np.asarray(d["okey.dt"]).tolist(),
                   np.asarray(d["okey.xx"]).tolist(), np.asarray(d["okey.cp"]).tolist(), strict=True)
        cols = {c: np.asarray(d[c], np.float64) for c in ("sVol", "sPrc", "de", "ga", "th", "ve",
                                                           "oBidIv", "sdiv")}
        for i, key in enumerate(keys):
            out[key] = {c: float(v[i]) for c, v in cols.items()}
    return out


def test_an_nbbo_change_during_a_loop_pass_is_ticked_before_the_next_chunk() -> None:
    """The asyncio Loop pass yields between chunks, so a quote that arrives during the pass gets
    its Tick record before the pass goes on -- not after the whole pass.  (How long that wait
    is on a large universe is measured by bench/bench_engine.py --tick-delay.)"""
    sim, eng = _small_engine(EngineConfig(loop_chunk_rows=300, loop_chunk_min_rows=300))
    bus = eng.bus
    b = eng.book
    tick = ordinal("LiveImpliedQuote", "calcSource", "Tick")
    events: list[str] = []

    def on_liq(msg: object) -> None:
        if isinstance(msg, ColumnBatch) and (np.asarray(msg.data["calcSource"]) == tick).any():
            events.append("tick")

    bus.subscribe("LiveImpliedQuote", on_liq)
    row = int(np.flatnonzero(b.bid[: b.n] > 0.5)[0])
    root = np.array([b.roots[int(b.root[row])].root], dtype=object)
    chunk = eng._loop_chunk_off_loop

    async def main() -> int:
        first = asyncio.Event()

        async def counted(*args: object) -> tuple[int, float]:
            k = await chunk(*args)  # type: ignore[arg-type]
            events.append("chunk")
            first.set()
            return k

        eng._loop_chunk_off_loop = counted  # type: ignore[method-assign]
        task = asyncio.create_task(eng.loop_once())
        await first.wait()  # a source task wakes while the pass is under way
        bid = float(b.bid[row]) + 0.05
        bus.publish(ColumnBatch(registry()["OptionNbboQuote"], {
            **option_key_columns("okey", root, b.dt[row: row + 1].copy(),
                                 b.strike[row: row + 1].copy(), b.cp[row: row + 1].copy()),
            "bidPrice": np.array([bid]), "askPrice": np.array([bid + 0.2]),
            "srcTimestamp": np.array([sim.now_ns + 1], np.int64)}, sim.now_ns + 1))
        return await task

    n = asyncio.run(main())
    assert n == b.n and eng.loops == 1
    assert events.count("chunk") >= 3, events
    assert events.index("tick") == 1, events  # right after the first chunk, before the second


def test_a_pass_on_two_workers_publishes_the_values_of_one_chunk_at_a_time(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """loop_workers=2 (two chunks at once, serial kernels, results applied in pass order) gives
    every row the values of loop_workers=1 (one chunk at a time, parallel kernels): a chunk's
    results written to another chunk's rows or expiries would be off by far more."""
    got: dict[int, dict[tuple, dict[str, float]]] = {}
    for workers in (1, 2):
        cfg = EngineConfig(loop_chunk_rows=300, loop_chunk_min_rows=300, loop_workers=workers)
        _, eng = _small_engine(cfg)
        monkeypatch.setattr(_quote_rows, "_TABLES",
                            BoundaryTables(min_rows=_quote_rows._TABLES.min_rows))
        batches: list[dict[str, np.ndarray]] = []
        eng.bus.subscribe("LiveImpliedQuote", lambda m: batches.append(dict(m.data)))  # noqa: B023
        assert eng.on_timer() == eng.book.n
        assert len(eng.loop_chunks()) >= 3
        got[workers] = _by_key(batches)
        eng.detach()
    one, two = got[1], got[2]
    assert one.keys() == two.keys()
    for key, row in one.items():
        for col, a in row.items():
            b = two[key][col]
            tol = 1e-9 if col == "oBidIv" else 1e-5  # as above: kernels' lane splits differ
            assert abs(a - b) <= tol * max(1.0, abs(a)) or (np.isnan(a) and np.isnan(b)), \
                (key, col, a, b)


def test_serial_kernels_is_the_calling_threads_switch() -> None:
    from openmlink.analytics import serial_kernels
    from openmlink.analytics._parallel import parallel_enabled

    seen: list[bool] = []
    with serial_kernels():
        assert not parallel_enabled()
        t = threading.Thread(target=lambda: seen.append(parallel_enabled()))
        t.start()
        t.join()
    assert seen == [True] and parallel_enabled()
