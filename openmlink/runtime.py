"""Running the platform: sources prepared before the port is bound, the platform built, REST
and WebSocket served, sources and engines started and stopped, engine timers driven by the
platform clock, and each start-up phase reported on one line.

Order of ``openmlink serve`` (``cli``)::

    rt = Runtime(clock, sources, keep_serving=...)
    rt.prepare()                      # files parsed, arguments checked: StartupError -> exit 2
    plat = rt.build(keys, ...)        # registry, bus, store, engines (openmlink.platform)
    rt.serve(make_app(plat.rest), host, port)   # sources, bind, engines, run until a signal

Start-up lines (stderr, ``openmlink: `` prefix): one per prepared source (its summary), the
listening URLs, the kernels compiling and ready (seconds), the first Loop pass (series,
seconds).  A source that fails while running (a recording corrupt in the middle) is reported
on one line and ends the process with status 1, unless ``keep_serving``.

Timers (``Runtime.every``) run on *clock* time: with the simulator's ``--speed 10`` a 60 s Loop
interval passes in 6 real seconds; a timer whose callback is still running is not started again
(the next run is ``seconds`` after the previous one ended).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
import sys
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .clock import Clock
from .errors import StartupError
from .gcpolicy import GcPolicy
from .market import Source, SourceError

if TYPE_CHECKING:  # the heavy parts (kernels, HTTP) load after the sources are prepared
    from .bus import InProcessBus, PartitionLeases, Partitions
    from .engines.implied import EngineConfig, ImpliedQuoteEngine
    from .gateway import ApiKeys, RestConfig
    from .market import SecurityMaster
    from .platform import Platform
    from .trading import AuctionConfig, RiskConfig, TradingConfig
    from .trading.risk import SodPosition

__all__ = ["ROLES", "Role", "Runtime", "Timers", "health", "parse_role", "say_stderr"]

log = logging.getLogger("openmlink.runtime")

Say = Callable[[str], None]
TimerFn = Callable[[], Awaitable[Any] | Any]
#: seconds of clock time between two republications of the autohedge states (inferred)
HEDGE_LOOP_S = 1.0
#: wall seconds between two snapshots of the column data a process sent on a NATS bus (inferred)
SNAPSHOT_S = 1.0
#: the key of the market's security master in the NATS KV bucket ``<PREFIX>_SHARED``
MASTER_KEY = "master"
#: wall seconds at least between two snapshots of one (type, ticker) (inferred: a busy ticker's
#: snapshot, every live row of it, once a second outweighed its live updates and made engine
#: processes slow consumers on a loaded machine)
SNAPSHOT_MIN_S = 10.0


#: the process roles of ``openmlink serve --role`` (docs/scale-out.md)
ROLES = ("all", "gateway", "market", "engine")
_ENGINE_NAMES = ("implied", "trading", "calc")


@dataclass(frozen=True)
class Role:
    """What one process of a platform runs: market ``sources``, which ``engines`` (names of
    ``platform.ENGINES``); every role serves REST, WebSocket and SQL from its own tables."""

    name: str
    sources: bool
    engines: frozenset[str]

    def __str__(self) -> str:
        if self.name == "engine":
            return "engine " + ",".join(sorted(self.engines))
        return self.name


def parse_role(words: Sequence[str]) -> Role:
    """``all`` | ``gateway`` | ``market`` | ``engine NAME[,NAME...]`` (NAME: implied, trading,
    calc or all); ``StartupError`` naming what is wrong."""
    if not words or words[0] not in ROLES:
        raise StartupError(f"--role {' '.join(words)!r}: one of {', '.join(ROLES)}")
    name, rest = words[0], list(words[1:])
    if name != "engine":
        if rest:
            raise StartupError(f"--role {name} takes no name (got {' '.join(rest)!r})")
        return Role(name, name in ("all", "market"),
                    frozenset(_ENGINE_NAMES) if name == "all" else frozenset())
    names = [n for w in rest for n in w.split(",") if n]
    if not names:
        raise StartupError(f"--role engine needs a name: {', '.join(_ENGINE_NAMES)} or all")
    bad = [n for n in names if n not in (*_ENGINE_NAMES, "all")]
    if bad:
        raise StartupError(f"--role engine {','.join(bad)}: unknown engine; known: "
                           f"{', '.join(_ENGINE_NAMES)}, all")
    return Role("engine", False, frozenset(_ENGINE_NAMES) if "all" in names else frozenset(names))


def health(role: Role, bus: object, partitions: Any = None) -> dict[str, Any]:
    """What ``GET /health`` answers: this process's role and, on a NATS bus, its connection
    and traffic (``bus.NatsStats``; ``lag_ms``: receive minus send wall time of the latest
    message from another process; ``received_types``: messages received by type); the
    implied engine's ``partitions`` when it has some (``bus.Partitions``: of, owned,
    leased)."""
    from .bus import NatsBus

    out: dict[str, Any] = {"role": str(role), "bus": "inprocess"}
    if partitions is not None:
        out["partitions"] = partitions.describe()
    if isinstance(bus, NatsBus):
        st = bus.stats
        out.update(bus=bus.url, connected=bus.connected, sent=st.sent, received=st.received,
                   dropped=st.dropped, stale=st.stale, snapshots=st.snapshots,
                   queued=bus.queued, lag_ms=round(st.lag_ns / 1e6, 3),
                   check_retries=st.check_retries, check_rerouted=st.check_rerouted,
                   received_types=dict(sorted(st.received_types.items())))
    return out


def say_stderr(line: str) -> None:
    """One start-up line on stderr."""
    print(f"openmlink: {line}", file=sys.stderr, flush=True)


@dataclass
class _Timer:
    name: str
    interval_ns: int
    fn: TimerFn
    due_ns: int
    runs: int = 0


class Timers:
    """Periodic callbacks on the platform clock's time (``every``); started by ``start`` in a
    running event loop, stopped by ``stop``.  ``resolution_s`` is the longest real sleep
    between looks at the clock (a simulated clock moves on its own, so it is polled)."""

    def __init__(self, clock: Clock, resolution_s: float = 0.05) -> None:
        self.clock = clock
        self.resolution_s = resolution_s
        self._timers: list[_Timer] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False

    def every(self, seconds: float, fn: TimerFn, *, name: str, first_in: float | None = None
              ) -> None:
        """Call ``fn`` (plain or async) every ``seconds`` of clock time, the first time after
        ``first_in`` seconds (default ``seconds``)."""
        if not seconds > 0:
            raise ValueError(f"timer {name}: interval must be > 0 s, not {seconds}")
        first = seconds if first_in is None else first_in
        t = _Timer(name, int(seconds * 1e9), fn, self.clock.time_ns() + int(first * 1e9))
        self._timers.append(t)
        if self._running:  # already started: start this one too
            self._tasks.append(asyncio.create_task(self._run(t), name=f"timer:{name}"))

    @property
    def timers(self) -> list[tuple[str, int]]:
        """(name, runs so far) of each timer."""
        return [(t.name, t.runs) for t in self._timers]

    def start(self) -> None:
        self._running = True
        self._tasks = [asyncio.create_task(self._run(t), name=f"timer:{t.name}")
                       for t in self._timers]

    async def stop(self) -> None:
        self._running = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _until(self, due_ns: int) -> None:
        while (left := due_ns - self.clock.time_ns()) > 0:
            await asyncio.sleep(min(left / 1e9, self.resolution_s))

    async def _run(self, t: _Timer) -> None:
        while True:
            await self._until(t.due_ns)
            try:
                r = t.fn()
                if inspect.isawaitable(r):
                    await r
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("timer %s failed", t.name)
            t.runs += 1
            t.due_ns = self.clock.time_ns() + t.interval_ns


class WarmUp(Protocol):
    """Kernel warm-up of the implied-quote engine in two stages (``analytics.warm.StagedWarmUp``):
    ``first`` (blocking) makes the preliminary pass's kernels ready, ``rest`` (blocking) all
    the engine's, each False when ``close`` (which ends any compiler process still running)
    came first."""

    def first(self) -> bool: ...

    def rest(self) -> bool: ...

    def close(self) -> None: ...


class Runtime:
    """Prepares, builds, serves and stops one platform (see the module docstring)."""

    def __init__(self, clock: Clock, sources: Sequence[Source], *, keep_serving: bool = False,
                 say: Say = say_stderr, warm: WarmUp | None = None) -> None:
        self.clock = clock
        self.sources = list(sources)
        self.keep_serving = keep_serving
        self.say = say
        self.warm = warm
        self.timers = Timers(clock)
        #: the cyclic-GC policy of the served process (``gcpolicy``)
        self.gc = GcPolicy()
        self.platform: Platform | None = None
        self.exit_code = 0
        #: this process lost the trading lease: what it still has queued is stale (the new
        #: holder ignores its epoch), so it stops without waiting to send it
        self.fenced = False
        self.failures: list[str] = []
        self._prepared = False
        self._tasks: list[asyncio.Task[None]] = []
        self._source_tasks: dict[Source, asyncio.Task[None]] = {}
        self._stop: asyncio.Event | None = None
        #: the engines this process runs (``build``)
        self.engines: frozenset[str] = frozenset()
        #: the implied engine's partition leases (a NATS bus, no ``--partition``)
        self.leases: PartitionLeases | None = None
        #: the trading lease (a NATS bus: one process works the orders, the others stand by)
        self.trading_lease: PartitionLeases | None = None
        #: the trading lease's epoch while this process holds it (None: standing by)
        self.trading_epoch: int | None = None

    # ------------------------------------------------------------------ phases
    def prepare(self) -> None:
        """Prepare every source (files parsed, arguments checked, universes built); raises the
        first source's ``StartupError``.  Runs before anything is bound or written."""
        for s in self.sources:
            try:
                line = s.prepare(self.clock)
            except StartupError:
                raise
            except OSError as e:
                raise SourceError(f"{s.name}: {e}") from None
            self.say(f"market: {line}")
        self._prepared = True

    def build(self, keys: ApiKeys, *, rest_config: RestConfig | None = None,
              data_dir: str | Path | None = None, engine_config: EngineConfig | None = None,
              analytics: bool = True, trading_config: TradingConfig | None = None,
              auction_config: AuctionConfig | None = None,
              risk_config: RiskConfig | None = None,
              positions: Sequence[SodPosition] = (), bus: InProcessBus | None = None,
              engines: frozenset[str] | None = None,
              partitions: Partitions | None = None,
              trading_standby: bool = False) -> Platform:
        """Assemble the platform on this runtime's clock and sources (on ``bus``, running
        ``engines``: see ``platform.build_platform``)."""
        from .platform import ENGINES, build_platform

        self.engines = ENGINES if engines is None else engines
        self.platform = build_platform(keys, clock=self.clock, rest_config=rest_config,
                                       sources=self.sources, data_dir=data_dir,
                                       engine_config=engine_config, analytics=analytics,
                                       trading_config=trading_config,
                                       auction_config=auction_config,
                                       risk_config=risk_config, positions=positions,
                                       bus=bus, engines=ENGINES if engines is None else engines,
                                       partitions=partitions, trading_standby=trading_standby)
        return self.platform

    def every(self, seconds: float, fn: TimerFn, *, name: str,
              first_in: float | None = None) -> None:
        """A periodic callback on clock time (see ``Timers.every``)."""
        self.timers.every(seconds, fn, name=name, first_in=first_in)

    async def start(self) -> None:
        """Start the sources and the engines (in a running event loop)."""
        self.start_sources()
        await self.start_engines()

    def start_sources(self) -> None:
        """Start each prepared source as a task (in a running event loop)."""
        if not self._prepared:
            self.prepare()
        plat = self._platform()
        self._stop = self._stop or asyncio.Event()
        for s in self.sources:
            task = asyncio.create_task(self._run_source(s, plat), name=f"source:{s.name}")
            self._tasks.append(task)
            self._source_tasks[s] = task

    async def start_engines(self) -> None:
        """Start the engines: the order manager's timer, the implied-quote engine (kernels,
        first Loop pass, then its Loop timer) and the timers."""
        plat = self._platform()
        self._stop = self._stop or asyncio.Event()
        self._trading_timers(plat)
        if plat.engine is not None:
            self._tasks.append(asyncio.create_task(self._run_engine(plat.engine),
                                                   name="engine:implied-quotes"))
        if plat.start_trading is not None:  # a NATS platform: the trading lease first
            self._tasks.append(asyncio.create_task(self._trading_seat(), name="trading:seat"))
        self.timers.start()

    def _trading_timers(self, plat: Platform) -> None:
        """The order manager's, auctions', risk's and auto-hedger's timers (those built)."""
        if plat.orders is not None:  # children, venue events and re-pricing on clock time
            self.every(plat.orders.config.timer_s, _stepped(plat.orders.tick_steps),
                       name="order manager")
        if plat.auctions is not None:  # auction trials (flash windows, 1 s block trials)
            self.every(plat.auctions.max_sleep_s, plat.auctions.tick, name="auction trials")
        if plat.risk is not None:  # marks follow the market between fills
            self.every(plat.risk.config.loop_s, plat.risk.tick, name="risk Loop")
        if plat.hedge is not None:  # band states follow the hedge price
            self.every(HEDGE_LOOP_S, plat.hedge.tick, name="autohedge Loop")
            # hedge orders for the groups that changed, on the order manager's cadence
            work_s = plat.orders.config.timer_s if plat.orders is not None else 0.02
            self.every(work_s, plat.hedge.work, name="autohedge orders")

    async def stop(self) -> None:
        """Close the sources, cancel their tasks, the engine task and the timers, end the
        engines' run-blocks and close the order manager."""
        for s in self.sources:
            s.close()
        if self.warm is not None:
            self.warm.close()
        if self.leases is not None:  # handed over at once, not after the leases expire
            await self.leases.close()
            self.leases = None
        await self.timers.stop()
        self.gc.stop()
        if self.platform is not None and self.platform.auctions is not None:
            self.platform.auctions.close()
        if self.platform is not None:
            for eng in (self.platform.risk, self.platform.hedge):
                if eng is not None:
                    eng.close()
        if self.platform is not None and self.platform.orders is not None:
            self.platform.orders.close()
        if self.trading_lease is not None:  # commits stored first, then handed over at once
            await self._release_trading()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        self._source_tasks.clear()

    def request_stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    def serve(self, app: Any, host: str, port: int) -> int:
        """Bind, start, serve until SIGINT/SIGTERM (or a source failure); the exit status."""
        if not self._prepared:
            self.prepare()
        try:
            import uvloop
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        except ImportError:  # pragma: no cover - uvloop is a dependency, but stay runnable
            pass
        return asyncio.run(self._serve(app, host, port))

    # ------------------------------------------------------------------ internals
    def _platform(self) -> Platform:
        if self.platform is None:
            raise RuntimeError("Runtime.build() has not been called")
        return self.platform

    async def _serve(self, app: Any, host: str, port: int) -> int:
        from aiohttp import web

        self._stop = asyncio.Event()
        from .gateway import ProtocolRunner

        # the app's HTTP limits, and refusals in protocol form (make_app's HttpLimits)
        runner = ProtocolRunner(app, access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        try:
            await self._connect_bus()
            # sources first, so that quotes are on their way when the first client connects
            self.start_sources()
            self._share_master()
            site = web.TCPSite(runner, host, port, backlog=runner.limits.listen_backlog)
            try:
                await site.start()
            except OSError as e:
                why = os.strerror(e.errno) if e.errno else str(e)
                raise StartupError(f"cannot listen on {host}:{port}: {why}") from None
            self.say(f"listening: REST http://{host}:{port}/rest/json, "
                     f"WebSocket ws://{host}:{port}/mlink/json, dashboard http://{host}:{port}/")
            # the platform's start-up objects (schemas, kernels, engines, loaded chains) live as
            # long as the process: frozen out of the cyclic GC, a full collection no longer walks
            # them all (it stalled the event loop 100-300 ms: publish->client latency); later
            # survivors are frozen every GcPolicy step (a 40 ms pause per few thousand orders)
            self.gc.start()
            self._tasks.append(asyncio.create_task(self.gc.run(), name="gc policy"))
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):  # not on Windows
                    loop.add_signal_handler(sig, self._stop.set)
            await self.start_engines()
            await self._stop.wait()
        finally:
            await self.stop()
            await runner.cleanup()
            await self._close_bus()
        return self.exit_code

    async def _connect_bus(self) -> None:
        """A distributed bus joins NATS before anything is served or published: the records
        already in JetStream are in this process's tables when clients can connect."""
        from .bus import NatsBus

        plat = self._platform()
        bus = plat.bus
        if not isinstance(bus, NatsBus):
            return
        if plat.engine is not None and self.warm is not None:
            plat.engine.ready = False  # the replayed quotes are only stored until it is warm
        t0 = time.perf_counter()
        try:
            await bus.connect()
        except Exception as e:
            raise StartupError(f"cannot join the NATS bus at {bus.url}: "
                               f"{type(e).__name__}: {e}") from None
        self.say(f"bus: NATS {bus.url} joined in {time.perf_counter() - t0:.1f} s "
                 f"({bus.stats.received} records and snapshots replayed from JetStream)")
        bus.snapshot_every(self._platform().store.ticker_batches, SNAPSHOT_S, SNAPSHOT_MIN_S)

    def _share_master(self) -> None:
        """On a NATS bus, the security master crosses processes (docs/scale-out.md): a process
        with a simulator sends its definition once the simulator started (KV
        ``<PREFIX>_SHARED``, key ``master``, zlib-compressed JSON); a process with engines and
        no simulator builds the master from it, and again from each new one."""
        from .bus import NatsBus
        from .market import MarketSimulator

        plat = self._platform()
        if not isinstance(plat.bus, NatsBus):
            return
        if any(isinstance(s, MarketSimulator) for s in self.sources):
            self._tasks.append(asyncio.create_task(self._send_master(plat.bus),
                                                   name="bus:send master"))
        elif self.engines:
            self._tasks.append(asyncio.create_task(self._receive_master(plat.bus),
                                                   name="bus:receive master"))

    async def _send_master(self, bus: Any) -> None:
        from .market import master_to_json

        plat = self._platform()
        while (m := plat.security_master()) is None:
            await asyncio.sleep(0.1)
        data = await asyncio.to_thread(lambda: zlib.compress(master_to_json(m), 6))
        try:
            await bus.put_shared(MASTER_KEY, data)
        except Exception as e:  # the engine processes then price without it: say so
            log.exception("sending the security master over NATS failed")
            self.say(f"bus: the security master could not be shared: {type(e).__name__}: {e}")
            return
        self.say(f"bus: security master shared ({len(m.series):,} series, {len(data):,} bytes)")

    async def _receive_master(self, bus: Any) -> None:
        from .market import master_from_json

        def decode(data: bytes) -> SecurityMaster:
            return master_from_json(zlib.decompress(data))

        plat = self._platform()
        async for data in bus.watch_shared(MASTER_KEY):
            try:
                m = await asyncio.to_thread(decode, data)
            except Exception as e:  # a master this version cannot read: the old one stays
                log.exception("the security master shared over NATS is unreadable")
                self.say(f"bus: the shared security master is unreadable: {type(e).__name__}: {e}")
                continue
            plat.shared_master = m
            self.say(f"bus: security master received ({len(m.series):,} series, as of {m.today})")

    async def _close_bus(self) -> None:
        from .bus import NatsBus

        bus = self.platform.bus if self.platform is not None else None
        if isinstance(bus, NatsBus):
            await bus.close(drain=not self.fenced)

    async def _run_source(self, s: Source, plat: Platform) -> None:
        t0 = time.perf_counter()
        try:
            await s.run(plat.bus, plat.clock)
        except asyncio.CancelledError:
            raise
        except StartupError as e:
            self._source_failed(s, e.one_line())
        except Exception as e:  # a bug, not a known bad input: keep the traceback
            log.exception("market source %s failed", s.name)
            self._source_failed(s, f"{type(e).__name__}: {s.name} failed: {e}")
        else:
            self.say(f"market: {s.name} finished in {time.perf_counter() - t0:.1f} s")

    def _source_failed(self, s: Source, line: str) -> None:
        self.failures.append(line)
        self.say(line)
        if self.keep_serving:
            self.say(f"market: {s.name} stopped; still serving (--keep-serving)")
            return
        self.exit_code = 1
        self.request_stop()

    async def _warm_engine(self, engine: ImpliedQuoteEngine, warm: WarmUp) -> bool:
        """Kernels in two stages (on an empty Numba cache the first rows come after the first
        stage, ~5 s of compiling, instead of ~30 s): a preliminary pass with European values
        (``ImpliedQuoteEngine.set_preliminary``) while the rest compile in a child process."""
        engine.ready = False  # quotes are only stored meanwhile
        self.say("analytics: compiling kernels (or loading them from the Numba cache); "
                 "LiveImpliedQuote follows when they are ready")
        t0 = time.perf_counter()
        if not await asyncio.to_thread(warm.first):
            return False  # stopping
        await self._first_snapshots()
        engine.set_preliminary(True)
        engine.ready = True
        t1 = time.perf_counter()
        try:
            n = await engine.loop_once()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("implied-quote preliminary pass failed")
        else:
            self.say(f"analytics: first preliminary pass done: {n} series in "
                     f"{time.perf_counter() - t1:.1f} s, first kernels ready in {t1 - t0:.1f} s "
                     "(American roots valued as European, calcSource None, until the next pass)")
        if not await asyncio.to_thread(warm.rest):
            return False
        engine.set_preliminary(False)
        self.say(f"analytics: kernels ready in {time.perf_counter() - t0:.1f} s")
        return True

    def market_state(self) -> str:
        """``none`` (no source in this process), ``loading`` (a simulator's first snapshot is
        still being computed: the port answers before it, on an empty Numba cache for several
        seconds) or ``live``."""
        from .market import MarketSimulator

        if not self.sources:
            return "none"

        def loading(s: Source) -> bool:  # a simulator whose task has not ended without it
            t = self._source_tasks.get(s)
            return (isinstance(s, MarketSimulator) and not s.snapshot_sent
                    and (t is None or not t.done()))
        return "loading" if any(loading(s) for s in self.sources) else "live"

    async def _first_snapshots(self) -> None:
        """Wait until each simulator's first snapshot is on the bus (it is computed in a thread
        and, on an empty Numba cache, compiles its American kernels meanwhile: the first kernel
        stage can be ready before it, and a pass then would value no option), or its task
        ended (failed or closed)."""
        while self.market_state() == "loading":
            await asyncio.sleep(0.05)

    async def _run_engine(self, engine: ImpliedQuoteEngine) -> None:
        if self.warm is not None and not await self._warm_engine(engine, self.warm):
            return
        if not await self._lease_partitions(engine):
            return
        t0 = time.perf_counter()
        try:
            n = await engine.loop_once()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("implied-quote Loop failed")
        else:
            self.say(f"analytics: first Loop pass done: {n} series in "
                     f"{time.perf_counter() - t0:.1f} s")
        self.every(engine.config.loop_interval_s, engine.loop_once, name="implied-quote Loop")

    async def _lease_partitions(self, engine: ImpliedQuoteEngine) -> bool:
        """A warm engine with leased partitions joins its group (``bus.PartitionLeases``)
        and takes its share before its first Loop pass; a partition gained later (a member
        died or left) is computed at once from the engine's book (every quote is kept).
        False: the leases could not start (said; the process stops with status 1)."""
        from .bus import NatsBus, PartitionLeases

        parts = engine.partitions
        bus = self._platform().bus
        if parts is None or not parts.leased or not isinstance(bus, NatsBus):
            return True
        self.leases = PartitionLeases(bus, parts, "implied")
        try:
            await self.leases.start()
        except Exception as e:  # an engine that cannot lease computes nothing: say so, stop
            log.exception("partition leases failed to start")
            self.say(f"analytics: partition leases at {bus.url} failed: {type(e).__name__}: "
                     f"{e}; stopping")
            self.leases = None
            self.exit_code = 1
            self.request_stop()
            return False
        self.say(f"analytics: partitions {sorted(parts.owned)} of {parts.n} leased "
                 f"(lease {self.leases.lease_s:g} s)")
        pending: set[asyncio.Task[int]] = set()

        def gained(ks: frozenset[int]) -> None:
            if not ks:
                return
            log.warning("implied engine: partitions %s gained; computing them now", sorted(ks))
            task = asyncio.create_task(engine.loop_once(ks), name="engine:partitions-gained")
            pending.add(task)
            task.add_done_callback(pending.discard)
            task.add_done_callback(_log_failure)

        parts.on_gain(gained)
        return True


    # ------------------------------------------------------------------ the trading lease
    async def _trading_seat(self) -> None:
        """A NATS platform's trading engines run in one process at a time (docs/scale-out.md,
        "Order manager failover"): every ``engine trading`` process follows the order
        manager's journal in JetStream (``bus.JournalLog``) and competes for the lease
        ``trading.p.0`` in ``<PREFIX>_PARTS``; the one that gets it restores the orders, their
        fills, limits and risk counters from the journal it followed (once it has every
        message the stream holds), works them, and journals to the stream under its epoch.
        The others stand by.  A holder that loses the lease (paused or cut off longer than
        the lease) stops acting at once and ends the process with status 1 (restarted, it
        stands by)."""
        from .bus import JournalLog, NatsBus, PartitionLeases, Partitions

        plat = self._platform()
        bus = plat.bus
        if not isinstance(bus, NatsBus) or plat.start_trading is None:
            return
        jlog = JournalLog(bus, "trading")
        try:
            await jlog.open()
            await jlog.caught_up()
            parts = Partitions(1, leased=True)
            lease = self.trading_lease = PartitionLeases(bus, parts, "trading")
            held = asyncio.Event()

            def changed(_gained: frozenset[int]) -> None:
                if 0 in parts.owned:
                    held.set()
                elif self.trading_epoch is not None:
                    self._trading_fenced()
            parts.on_gain(changed)
            await lease.start()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a trading process that cannot compete works nothing: stop
            log.exception("the trading lease could not start")
            self.say(f"trading: the journal or lease at {bus.url} failed: {type(e).__name__}: "
                     f"{e}; stopping")
            self.exit_code = 1
            self.request_stop()
            return
        if not held.is_set():
            self.say("trading: standing by (another process holds the trading lease); "
                     f"following its journal ({len(jlog.rows)} rows)")
        await held.wait()
        t0 = time.perf_counter()
        await jlog.caught_up()
        await jlog.stop_following()
        epoch = lease.revision(0)
        if epoch is None or not lease.fresh():  # lost again meanwhile
            self._trading_fenced()
            return
        journal = jlog.journal(epoch, lease.fresh)
        # first message of this epoch: the former holders' later messages are ignored
        journal.commit([("meta", "epoch", str(epoch).encode())])
        plat.start_trading(journal)
        self.trading_epoch = epoch
        self._trading_timers(plat)
        n = len(plat.orders.manager.brokers) if plat.orders is not None else 0
        self.say(f"trading: took the trading lease (epoch {epoch}): {n} orders restored from "
                 f"the journal ({jlog.commits} commits followed) in "
                 f"{time.perf_counter() - t0:.2f} s")

    def _trading_fenced(self) -> None:
        """This process held the trading lease and lost it: act on nothing more, stop."""
        plat = self.platform
        if plat is not None and plat.orders is not None:
            plat.orders.close()  # no more posts or market changes reach the order manager
        self.fenced = True
        log.error("the trading lease (epoch %s) was lost", self.trading_epoch)
        self.say(f"trading: the trading lease (epoch {self.trading_epoch}) was lost: another "
                 "process may hold it; stopping (restarted, this process stands by)")
        self.exit_code = 1
        self.request_stop()

    async def _release_trading(self) -> None:
        """A clean stop: the journal's commits stored, then the lease handed over at once."""
        from .bus import NatsBus

        bus = self.platform.bus if self.platform is not None else None
        if isinstance(bus, NatsBus) and self.trading_epoch is not None and not self.fenced:
            try:
                await bus.flush(5.0)
            except Exception as e:  # the standby then takes over from what was stored
                log.warning("NATS send queue not flushed before the trading lease was "
                            "released: %s: %s", type(e).__name__, e)
        lease, self.trading_lease = self.trading_lease, None
        self.trading_epoch = None  # a release, not a loss
        if lease is not None:
            await lease.close()


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed", task.get_name(), exc_info=task.exception())


def _stepped(steps: Callable[[], Iterator[None]]) -> Callable[[], Awaitable[None]]:
    """A timer callback that runs ``steps()`` to the end, letting the event loop run
    (answer posts) between two of its steps: no step holds the loop for a whole tick."""

    async def run() -> None:
        for _ in steps():
            await asyncio.sleep(0)

    return run
