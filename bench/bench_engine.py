"""Engine benchmark: SVI fits/s, one full SPX chain NBBO -> LiveImpliedQuote, Loop over a universe.

    python bench/bench_engine.py [--universe full|default|N] [--chain PATH] [--reps N]
    python bench/bench_engine.py --tick-delay 150000

The chain is timed engine-to-bus and again with a live ``Store`` attached (as in the server,
where the store also writes the NBBO batch itself); the Loop always publishes into a store.
Chain: "first load" is the NBBO batch that adds every series
(new rows, every expiry fitted, then published); "steady state" is a second batch moving every
quote (all rows known, Tick vols from the existing fits).  Loop: the first pass after the
snapshot (creates the store rows) and a second, steady-state pass.  The best of ``--reps`` runs
is reported (the machine is shared), with the median.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import numba
import numpy as np

from openmlink.analytics import RateCurve, fit_correction
from openmlink.analytics._svi import fit_svi, svi_total_variance
from openmlink.bus import ColumnBatch, InProcessBus
from openmlink.clock import SimClock
from openmlink.engines.implied import EngineConfig, ImpliedQuoteEngine, warm_up
from openmlink.engines.implied._enums import ordinal
from openmlink.market import MarketSimulator, SimConfig, load_chain
from openmlink.market._columns import option_key_columns
from openmlink.schema import registry
from openmlink.store import Store


def _ms(xs: list[float]) -> str:
    return f"{min(xs) * 1e3:.0f} ms (median {statistics.median(xs) * 1e3:.0f})"


def bench_fits() -> None:
    k = np.linspace(-0.4, 0.3, 80)
    w = svi_total_variance(k, np.array([0.01, 0.2, -0.6, 0.05, 0.15]))
    g = 2000
    kk, ww = np.tile(k, g), np.tile(w, g) * (1 + 0.01 * np.random.default_rng(0).standard_normal(80 * g))
    off = np.arange(0, 80 * g + 1, 80)
    t0, c0 = time.perf_counter(), time.process_time()
    svi, _ = fit_svi(kk, ww, np.ones_like(kk), off)
    t1, c1 = time.perf_counter(), time.process_time()
    fit_correction(kk, ww, np.ones_like(kk), off, svi)
    t2, c2 = time.perf_counter(), time.process_time()
    print(f"SVI fits: {g / (t1 - t0):,.0f} per second (80 quotes each, {numba.get_num_threads()} "
          f"threads; CPU {(c1 - c0) / g * 1e6:.0f} us per expiry)")
    print(f"smile correction + butterfly check (issue 16): {g / (t2 - t1):,.0f} per second "
          f"(CPU {(c2 - c1) / g * 1e6:.0f} us per expiry; load average {os.getloadavg()[0]:.1f})")


def bench_chain(path: Path, reps: int) -> None:
    snap = load_chain(path)
    msgs = snap.messages()
    q = msgs[-2]  # the OptionNbboQuote batch
    assert q.mt.name == "OptionNbboQuote"
    moved = dict(q.data)
    moved["bidPrice"] = np.asarray(q.data["bidPrice"]) + 0.05
    moved["askPrice"] = np.asarray(q.data["askPrice"]) + 0.05
    q2 = ColumnBatch(q.mt, moved, q.sent_ts)
    print(f"full {snap.underlier} chain ({len(snap)} series) NBBO -> LiveImpliedQuote published "
          f"(target 50 ms):")
    for with_store in (False, True):
        first, steady = [], []
        for _rep in range(reps):
            bus = InProcessBus()
            if with_store:
                Store(registry()).attach(bus)
            eng = ImpliedQuoteEngine(bus, SimClock(snap.valuation_ns), EngineConfig(),
                                     RateCurve.flat(0.053))
            eng.attach()
            for m in msgs[:-2]:
                bus.publish(m)
            t0 = time.perf_counter()
            bus.publish(q)
            first.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            bus.publish(q2)
            steady.append(time.perf_counter() - t0)
        what = ("with the store (the NBBO batch and the LiveImpliedQuote/LiveAtmVol/"
                "LiveSurfaceCurve batches written into live tables)" if with_store
                else "engine to the bus")
        print(f"  {what}:\n    first load (new rows, {eng.book.n_exp} expiries fitted): {_ms(first)}"
              f"\n    steady state (all rows known, every quote moved): {_ms(steady)}")


def _engine_over(sim: MarketSimulator, msgs: list, chunk_rows: int,
                 chunk_s: float | None = None, model: str = "alo", greeks: str = "alo"
                 ) -> ImpliedQuoteEngine:
    bus = InProcessBus()
    Store(registry()).attach(bus)
    cfg = EngineConfig(loop_chunk_rows=chunk_rows, american_model=model, american_greeks=greeks)
    if chunk_s is not None:
        cfg = msgspec.structs.replace(cfg, loop_chunk_s=chunk_s)
    eng = ImpliedQuoteEngine(bus, SimClock(sim.now_ns), cfg, master=lambda: sim.master)
    eng.ready = False
    eng.attach()
    for m in msgs:
        bus.publish(m)
    eng.ready = True
    return eng


def _async_pass(eng: ImpliedQuoteEngine) -> tuple[int, float, list[float]]:
    """One asyncio Loop pass (the server's) with a 10 ms timer task measuring how long the
    event loop was held between its wake-ups."""
    gaps: list[float] = []

    async def probe() -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            gaps.append(time.perf_counter() - t - 0.01)

    async def run() -> int:
        p = asyncio.create_task(probe())
        await asyncio.sleep(0)
        n = await eng.loop_once()
        p.cancel()
        return n

    t0 = time.perf_counter()
    n = asyncio.run(run())
    return n, time.perf_counter() - t0, gaps


def _new_tables() -> None:
    """Forget the engine's boundary tables (a live pass builds them all again)."""
    from openmlink.analytics import _quote_rows

    _quote_rows._TABLES = _quote_rows.BoundaryTables(min_rows=_quote_rows._TABLES.min_rows)


def _steep_tables() -> None:
    """How many of the engine's boundary tables the heavier (Phi form) ALO scheme builds."""
    from openmlink.analytics import _quote_rows
    from openmlink.analytics._american import STEEP_BAND

    held, some, whole = _quote_rows._TABLES.steep()
    print(f"  boundary tables {held:,}: {some:,} with a vol node where the exercise boundary is "
          f"steep, s = (r - q) t / vol^2 > {STEEP_BAND[0]:g} (both fixed-point forms, blended), "
          f"{whole:,} wholly at s >= {STEEP_BAND[1]:g} (the Phi form only)")


def _table_counts() -> str:
    """What the engine's boundary tables cost since ``_new_tables`` (issue 16: boundaries are
    most of an accurate Loop's time): tables, their vol nodes (a boundary each; 3 for a slope
    table's), rows priced row by row."""
    from openmlink.analytics import _quote_rows

    tb = _quote_rows._TABLES
    sl = tb.slopes
    return (f"{tb.built:,} boundary tables ({tb.nodes_built:,} vol nodes), "
            f"{sl.built if sl else 0:,} slope tables ({sl.nodes_built if sl else 0:,} nodes x 3 "
            f"boundaries), {tb.direct:,} of {tb.evaluated:,} priced rows row by row")


def bench_loop(universe: str, chunk_rows: int, chunk_s: float | None) -> None:
    t0 = time.perf_counter()
    sim = MarketSimulator(SimConfig(universe=universe), start_ns=1_760_000_000_000_000_000)
    msgs = sim.snapshot()
    eng = _engine_over(sim, msgs, chunk_rows)
    b = eng.book
    print(f"universe {universe}: {b.n:,} series, {b.n_exp:,} expiries, {len(b.und_names):,} "
          f"underliers (built and loaded in {time.perf_counter() - t0:.0f} s)")
    amer = np.array([r.american for r in b.roots], bool)[b.root[: b.n]]
    qlr = _quantlib_rates()
    print(f"QuantLib, this run (1 core, per American row): QdFp accurate price {qlr['qdfp']:,.0f}/s, "
          f"QdFp price + 12 bumped prices (greeks and slides as published) {qlr['qdfp_rows']:,.0f}/s, "
          f"BAW price {qlr['baw']:,.0f}/s, QdFp implied vol {qlr['qdfp_iv']:,.0f}/s")
    alo_cpu = np.nan
    for label in ("first pass (store rows created)", "steady-state pass"):
        t0, c0 = time.perf_counter(), time.process_time()
        n = eng.on_timer()
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        alo_cpu = cpu
        na = int(amer.sum())
        print(f"Loop over {n:,} series ({amer.mean():.0%} American, ALO), synchronous, {label}: "
              f"{dt:.1f} s wall, {cpu:.1f} s CPU, load {os.getloadavg()[0]:.1f} "
              f"({dt / max(n, 1) * 1e6:.1f} us per series; target 30 s for 1.5 M); "
              f"{na / cpu:,.0f} American series/s CPU = x{na / cpu / qlr['qdfp_rows']:,.0f} "
              f"QuantLib QdFp rows (x{na / cpu / qlr['qdfp']:,.1f} its bare price)")
    na_iv, iv_w, iv_c = _engine_american_iv(eng)
    print(f"American IV through the engine's quote path ({na_iv:,} bids, default model): "
          f"{iv_w:,.0f}/s wall, {iv_c:,.0f}/s CPU (x{iv_c / qlr['qdfp_iv']:,.0f} QuantLib QdFp "
          f"impliedVolatility; issue 16 target >= 100,000/s per core)")
    del eng
    gc.collect()  # the first engine, bus and store are a reference cycle: free them now
    eng = _engine_over(sim, msgs, chunk_rows, model="baw", greeks="baw")  # before issue 16
    eng.on_timer()
    t0, c0 = time.perf_counter(), time.process_time()
    n = eng.on_timer()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"Loop over {n:,} series, american_model='baw' (Barone-Adesi-Whaley IVs, "
          f"forward premium and sPrc: the model before issue 16 plus the American forward), "
          f"steady-state pass: {dt:.1f} s wall, {cpu:.1f} s CPU ({dt / max(n, 1) * 1e6:.1f} us per "
          f"series); accurate (ALO) / BAW Loop CPU time x{alo_cpu / cpu:.2f}")
    del eng
    gc.collect()
    # american_greeks 'baw' (the default before issue 16) and 'alo' (the default now) with every
    # boundary table new, as in a live pass (the clock moves: every key's time to expiry changes)
    for greeks in ("baw", "alo"):
        eng = _engine_over(sim, msgs, chunk_rows, greeks=greeks)
        for label in ("first pass", "live pass (every boundary table new)"):
            _new_tables()
            t0, c0 = time.perf_counter(), time.process_time()
            n = eng.on_timer()
            dt = time.perf_counter() - t0
            print(f"Loop over {n:,} series, american_greeks='{greeks}', {label}: {dt:.1f} s, "
                  f"CPU {time.process_time() - c0:.1f} s, load {os.getloadavg()[0]:.1f}; "
                  f"{_table_counts()}")
        _steep_tables()
        del eng
        gc.collect()
    eng = _engine_over(sim, msgs, chunk_rows, chunk_s)  # a fresh store: the server's first pass
    for label in ("first pass", "live pass (every boundary table new)"):
        if label.startswith("live"):
            _new_tables()
        c0 = time.process_time()
        n, dt, gaps = _async_pass(eng)
        print(f"Loop over {n:,} series, asyncio (kernels on a worker thread, event-loop part of a "
              f"chunk ~{eng.config.loop_chunk_s * 1e3:.0f} ms), {label}: {dt:.1f} s wall, "
              f"{time.process_time() - c0:.1f} s CPU, load {os.getloadavg()[0]:.1f}; event loop held "
              f"at most {max(gaps) * 1e3:.0f} ms (median {statistics.median(gaps) * 1e3:.0f} ms, "
              f"p99 {np.percentile(gaps, 99) * 1e3:.0f} ms over {len(gaps)} wake-ups of a 10 ms timer)")


class _Stages:
    """CPU per stage of a Loop pass (issue 16's split), summed over threads: each stage's own
    thread CPU (``time.thread_time``), less that of the stages timed inside it (boundary tables
    inside the forward, ...).  It wraps the functions where the engine's modules look them up;
    with ``loop_workers`` > 1 the workers run the serial kernels, so no CPU hides in Numba's
    threads (with 1 the kernels' parallel twins are missed).  The wrappers cost ~1 us a call."""

    OUTER = ("forward (American parity)", "quote IVs (de-Americanised)", "surface fit",
             "price + greeks + slides rows", "gather inputs", "apply fit + surface records",
             "publish LiveImpliedQuote")

    def __init__(self) -> None:
        self.cpu: defaultdict[str, float] = defaultdict(float)
        self._lock = threading.Lock()
        self._tl = threading.local()
        self._undo: list[tuple[Any, str, Any]] = []

    def _wrap(self, owner: Any, name: str, label: Callable[[tuple], str] | str) -> None:
        f = getattr(owner, name)

        def timed(*a: Any, **k: Any) -> Any:
            st = self._tl.__dict__.setdefault("st", [])
            lab = label if isinstance(label, str) else label(a)
            if lab not in self.OUTER and st:  # nested: under its stage's name
                lab = f"{st[0][0]}: {lab}"
            st.append([lab, 0.0])
            t0 = time.thread_time()
            try:
                return f(*a, **k)
            finally:
                dt = time.thread_time() - t0
                _, inner = st.pop()
                if st:
                    st[-1][1] += dt
                with self._lock:
                    self.cpu[lab] += dt - inner

        self._undo.append((owner, name, f))
        setattr(owner, name, timed)

    @contextmanager
    def timing(self) -> Iterator[_Stages]:
        from openmlink.analytics import _american_grouped, _american_rows
        from openmlink.engines.implied import _engine, _fit

        o = self.OUTER
        for name in ("parity_forward", "american_parity_forward"):
            self._wrap(_fit, name, o[0])
        self._wrap(_fit, "implied_vols", o[1])
        for name in ("smile_points", "fit_svi", "fit_correction", "surface_values_vol"):
            self._wrap(_fit, name, o[2])
        self._wrap(_engine, "surface_values", o[3])
        eng = _engine.ImpliedQuoteEngine
        for name, lab in (("_fit_inputs", o[4]), ("_apply_fit", o[5]), ("_publish", o[6])):
            self._wrap(eng, name, lab)
        tables = (lambda a: "slope tables" if a[0] else "boundary tables")  # noqa: E731
        self._wrap(_american_grouped, "build_tables", tables)
        self._wrap(_american_rows, "build_tables", tables)
        try:
            yield self
        finally:
            for owner, name, f in reversed(self._undo):
                setattr(owner, name, f)
            self._undo.clear()

    def report(self, cpu: float) -> str:
        """One line per stage: its CPU with what the tables inside it took."""
        lines = []
        for st in self.OUTER:
            own = sum(v for k, v in self.cpu.items() if k == st or k.startswith(st + ":"))
            parts = ", ".join(f"{k[len(st) + 2:]} {v:.1f} s" for k, v in sorted(self.cpu.items())
                              if k.startswith(st + ":"))
            lines.append(f"    {st}: {own:.1f} s CPU{f' (of which {parts})' if parts else ''}")
        rest = cpu - sum(self.cpu.values())
        lines.append(f"    the rest (chunking, Python between stages, other threads): {rest:.1f} s")
        return "\n".join(lines)


def bench_full_loop(universe: str, chunk_s: float | None) -> None:
    """Issue 16's figure: one live Loop pass (every boundary table new: the clock moved) over
    the universe, synchronous and asyncio (the server's), wall and CPU, CPU per stage, and the
    longest the event loop was held during the asyncio pass."""
    t0 = time.perf_counter()
    sim = MarketSimulator(SimConfig(universe=universe), start_ns=1_760_000_000_000_000_000)
    msgs = sim.snapshot()
    cfg = EngineConfig()
    eng = _engine_over(sim, msgs, cfg.loop_chunk_rows)
    print(f"universe {universe}: {eng.book.n:,} series (built in {time.perf_counter() - t0:.0f} s)")
    eng.on_timer()  # the store's rows created, every expiry fitted once
    for workers in (1, cfg.loop_workers) if cfg.loop_workers > 1 else (1,):
        eng.config = msgspec.structs.replace(cfg, loop_workers=workers)
        eng.detach()  # (a new worker pool for the new count)
        eng.attach()
        _new_tables()
        stages = _Stages()
        load = os.getloadavg()[0]
        with stages.timing():
            t0, c0 = time.perf_counter(), time.process_time()
            n = eng.on_timer()
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"Loop, live pass (every boundary table new), loop_workers={workers}, synchronous: "
              f"{n:,} series in {dt:.1f} s wall, {cpu:.1f} s CPU (load {load:.1f} -> "
              f"{os.getloadavg()[0]:.1f}; issue 16 target < 30 s wall on 2 cores); "
              f"{_table_counts()}\n{stages.report(cpu)}")
    if chunk_s is not None:
        eng.config = msgspec.structs.replace(eng.config, loop_chunk_s=chunk_s)
    _new_tables()
    c0, load = time.process_time(), os.getloadavg()[0]
    n, dt, gaps = _async_pass(eng)
    print(f"Loop, live pass, loop_workers={eng.config.loop_workers}, asyncio (the server's; "
          f"loop_chunk_s {eng.config.loop_chunk_s * 1e3:.0f} ms): {n:,} "
          f"series in {dt:.1f} s wall, {time.process_time() - c0:.1f} s CPU (load {load:.1f} -> "
          f"{os.getloadavg()[0]:.1f}); event loop held at most {max(gaps) * 1e3:.0f} ms (p99 "
          f"{np.percentile(gaps, 99) * 1e3:.0f} ms, median {statistics.median(gaps) * 1e3:.1f} ms "
          f"over {len(gaps)} wake-ups of a 10 ms timer; target < 50 ms)")


def _quantlib_rates(rows: int = 150) -> dict[str, float]:
    """QuantLib per-row rates measured in this run (issue 16's ratios), on American options
    like the Loop's (spot 100, strikes +-30%, 1 week - 2 years, vol 10-60%): QdFp accurate
    price, its price + 6 greeks-by-bump + 6 slides as the Loop publishes them (12 more prices),
    Barone-Adesi-Whaley price, and QdFp implied vol."""
    import QuantLib as ql

    rng = np.random.default_rng(11)
    k = 100.0 * np.exp(rng.uniform(-0.3, 0.3, rows))
    days = rng.integers(7, 730, rows)
    vol = rng.uniform(0.1, 0.6, rows)
    cp = np.where(rng.random(rows) < 0.5, 1, -1)
    today = ql.Date(15, 1, 2025)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    sq, vq = ql.SimpleQuote(100.0), ql.SimpleQuote(0.2)
    proc = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(sq), ql.YieldTermStructureHandle(ql.FlatForward(today, 0.01, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, 0.045, dc)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(),
                                                           ql.QuoteHandle(vq), dc)))
    qd = ql.QdFpAmericanEngine(proc, ql.QdFpAmericanEngine.accurateScheme())
    baw = ql.BaroneAdesiWhaleyApproximationEngine(proc)
    opts = [ql.VanillaOption(ql.PlainVanillaPayoff(ql.Option.Call if c > 0 else ql.Option.Put, kk),
                             ql.AmericanExercise(today, today + int(d)))
            for c, kk, d in zip(cp, k, days, strict=True)]
    prices = np.empty(rows)

    def run(engine: object, bumps: int = 0) -> float:
        t0 = time.process_time()
        for i, o in enumerate(opts):
            vq.setValue(vol[i])
            sq.setValue(100.0)
            o.setPricingEngine(engine)
            prices[i] = o.NPV()
            for j in range(bumps):
                sq.setValue(100.0 * (1.0 + 0.001 * (j + 1)))
                o.NPV()
        return rows / (time.process_time() - t0)

    out = {"qdfp": run(qd), "qdfp_rows": run(qd, 12), "baw": run(baw)}
    run(qd)
    t0 = time.process_time()
    for i, o in enumerate(opts):
        o.setPricingEngine(qd)
        try:
            o.impliedVolatility(float(prices[i]), proc, 1e-8, 100, 1e-4, 4.0)
        except RuntimeError:
            pass
    out["qdfp_iv"] = rows / (time.process_time() - t0)
    return out


def _engine_american_iv(eng: ImpliedQuoteEngine) -> tuple[int, float, float]:
    """(American rows, their bid IVs per second wall and CPU) through the engine's own quote-IV
    path (``analytics.implied_vols`` on the Loop's row context, default model)."""
    from openmlink.analytics import implied_vols

    b = eng.book
    rows = np.arange(b.n, dtype=np.int64)
    spots = b.mid().copy()
    ctx = eng.context(rows, spots, eng.clock.time_ns())
    sel = np.flatnonzero(ctx.american & (b.bid[: b.n] > 0))
    sub = ctx.subset(sel)
    bid = b.bid[rows[sel]]
    guess = np.full(len(sel), np.nan)
    implied_vols(bid[:100], ctx.subset(sel[:100]), guess[:100], eng.config.american_model)
    t0, c0 = time.perf_counter(), time.process_time()
    implied_vols(bid, sub, guess, eng.config.american_model)
    return len(sel), len(sel) / (time.perf_counter() - t0), len(sel) / (time.process_time() - c0)


def bench_tick_delay(universe: str) -> None:
    """How long an NBBO change waits for its Tick record while an asyncio Loop pass runs: a
    quote arrives from a source task every 20 ms during the pass (was a 200 ms assertion in
    the unit suite; a starved Tick path would wait for the whole pass)."""
    sim = MarketSimulator(SimConfig(universe=universe), start_ns=1_760_000_000_000_000_000)
    eng = _engine_over(sim, sim.snapshot(), EngineConfig().loop_chunk_rows)
    b, bus = eng.book, eng.bus
    tick = ordinal("LiveImpliedQuote", "calcSource", "Tick")
    seen: list[float] = []

    def on_liq(msg: object) -> None:
        if isinstance(msg, ColumnBatch) and (np.asarray(msg.data["calcSource"]) == tick).any():
            seen.append(time.perf_counter())

    bus.subscribe("LiveImpliedQuote", on_liq)
    row = int(np.flatnonzero(b.bid[: b.n] > 0.5)[0])
    root = np.array([b.roots[int(b.root[row])].root], dtype=object)
    nbbo = registry()["OptionNbboQuote"]

    async def main() -> tuple[int, list[float]]:
        task = asyncio.create_task(eng.loop_once())
        await asyncio.sleep(0)
        delays: list[float] = []
        k = 0
        while not task.done():
            due = time.perf_counter() + 0.02
            await asyncio.sleep(0.02)
            if task.done():
                break
            k += 1
            bid = float(b.bid[row]) + 0.01 * (1 + k % 5)
            bus.publish(ColumnBatch(nbbo, {
                **option_key_columns("okey", root, b.dt[row: row + 1].copy(),
                                     b.strike[row: row + 1].copy(), b.cp[row: row + 1].copy()),
                "bidPrice": np.array([bid]), "askPrice": np.array([bid + 0.2]),
                "srcTimestamp": np.array([sim.now_ns + k], np.int64)}, sim.now_ns + k))
            if seen:
                delays.append(seen[-1] - due)
            seen.clear()
        return await task, delays

    gc.collect()
    gc.freeze()
    try:
        n, delays = asyncio.run(main())
    finally:
        gc.unfreeze()
    if delays:
        print(f"Tick delay during an asyncio Loop over {n:,} series ({len(delays)} NBBO changes): "
              f"median {statistics.median(delays) * 1e3:.0f} ms, max {max(delays) * 1e3:.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--universe", default="full")
    ap.add_argument("--chain", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"
                                           / "cboe" / "spx_2023-09-14.csv"))
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--chunk-rows", type=int, default=EngineConfig().loop_chunk_rows,
                    help="options per chunk of the synchronous passes")
    ap.add_argument("--chunk-s", type=float, default=None,
                    help="time budget of an asyncio chunk (default: EngineConfig's)")
    ap.add_argument("--no-chain", action="store_true")
    ap.add_argument("--loop-only", action="store_true",
                    help="only issue 16's figure: a live Loop pass over --universe, synchronous "
                         "(loop_workers 1 and the default) and asyncio, CPU per stage, loop stall")
    ap.add_argument("--tick-delay", default=None, metavar="UNIVERSE",
                    help="only measure the Tick delay during a Loop pass over UNIVERSE (e.g. 150000)")
    a = ap.parse_args()
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.2f} at start")
    warm_up()
    if a.tick_delay:
        bench_tick_delay(a.tick_delay)
        return
    if a.loop_only:
        bench_full_loop(a.universe, a.chunk_s)
        return
    bench_fits()
    if Path(a.chain).exists() and not a.no_chain:
        bench_chain(Path(a.chain), a.reps)
    bench_loop(a.universe, a.chunk_rows, a.chunk_s)


if __name__ == "__main__":
    main()
