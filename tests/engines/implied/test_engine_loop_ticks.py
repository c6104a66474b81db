"""The Loop never starves the Tick path."""

from __future__ import annotations

import asyncio

import numpy as np

from openmlink.bus import ColumnBatch, InProcessBus
from openmlink.clock import SimClock
from openmlink.engines.implied import EngineConfig, ImpliedQuoteEngine, warm_up
from openmlink.engines.implied._enums import ordinal
from openmlink.market import MarketSimulator, SimConfig
from openmlink.market._columns import option_key_columns
from openmlink.schema import registry
from openmlink.store import Store


def test_an_nbbo_change_during_a_loop_pass_is_ticked_before_the_next_chunk() -> None:
    """The asyncio Loop pass yields between chunks, so a quote that arrives during the pass gets
    its Tick record before the pass goes on -- not after the whole pass.  (How long that wait
    is on a large universe is measured by bench/bench_engine.py --tick-delay.)"""
    warm_up()
    sim = MarketSimulator(SimConfig(universe="small"), start_ns=1_760_000_000_000_000_000)
    bus = InProcessBus()
    Store(registry()).attach(bus)  # the Loop publishes into live tables, as in the server
    cfg = EngineConfig(loop_chunk_rows=300, loop_chunk_min_rows=300)  # fixed-size chunks
    eng = ImpliedQuoteEngine(bus, SimClock(sim.now_ns), cfg, master=lambda: sim.master)
    eng.ready = False
    eng.attach()
    for m in sim.snapshot():
        bus.publish(m)
    eng.ready = True
    b = eng.book
    tick = ordinal("LiveImpliedQuote", "calcSource", "Tick")
    events: list[str] = []

    def on_liq(msg: object) -> None:
        if isinstance(msg, ColumnBatch) and (np.asarray(msg.data["calcSource"]) == tick).any():
            events.append("tick")

    bus.subscribe("LiveImpliedQuote", on_liq)
    row = int(np.flatnonzero(b.bid[: b.n] > 0.5)[0])
    root = np.array([b.roots[int(b.root[row])].root], dtype=object)
    chunk = eng.loop_chunk

    async def main() -> int:
        first = asyncio.Event()

        def counted(exps: np.ndarray, spots: np.ndarray, val: int) -> int:
            k = chunk(exps, spots, val)
            events.append("chunk")
            first.set()
            return k

        eng.loop_chunk = counted  # type: ignore[method-assign]
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
