"""The ``openmlink`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .bus import PARTITIONS, Bus, InProcessBus, NatsBus, Partitions, parse_partition
from .clock import Clock, LiveClock, SimClock
from .errors import StartupError
from .market import (
    ChainSource,
    MarketSimulator,
    Recorder,
    Replayer,
    SimConfig,
    Source,
    trade_date_of,
    write_chain_csv,
)
from .runtime import Role, Runtime, health, parse_role, say_stderr
from .schema import datetime_from_text

if TYPE_CHECKING:
    from .gateway import ApiKeys
    from .platform import Platform
    from .trading import AuctionConfig, TradingConfig

__all__ = ["main", "parser"]


def _keys(args: argparse.Namespace) -> tuple[ApiKeys, str | None]:
    from .gateway import ApiKeys, Principal, generate_key

    keys = ApiKeys.from_file(args.keys_file) if args.keys_file else ApiKeys()
    one = args.api_key or os.environ.get("OPENMLINK_API_KEY")
    dev = None
    if one:
        keys.add(Principal(one))
    if not len(keys):
        dev = generate_key()
        keys.add(Principal(dev))
    return keys, dev


def _sim_config(args: argparse.Namespace) -> SimConfig:
    seed = args.seed if args.seed is not None else int(time.time_ns() % 2**31)
    return SimConfig(seed=seed, universe=args.universe, quote_rate=args.quote_rate,
                     tick_interval_ms=args.tick_ms, speed=args.speed)


def _sources(args: argparse.Namespace) -> list[Source]:
    if args.no_market:
        return []
    if args.chain:
        return [ChainSource(args.chain)]
    if args.replay:
        return [Replayer(args.replay, None if args.fast else args.speed)]
    return [MarketSimulator(_sim_config(args), start_ns=_start_ns(args))]


def _platform_clock(args: argparse.Namespace) -> SimClock | None:
    """Simulated time (``--start`` or ``--speed`` other than 1) drives the whole platform: the
    simulator advances this clock and every engine and reply reads it."""
    if args.no_market or args.chain or args.replay:
        return None
    if args.start is None and args.speed == 1.0:
        return None
    return SimClock(_start_ns(args) or time.time_ns(), unique=True)


def _start_ns(args: argparse.Namespace) -> int | None:
    if not args.start:
        return None
    try:
        return datetime_from_text(args.start)
    except ValueError as e:
        raise StartupError(f"--start {args.start!r}: {e}") from None


def _attach_recorder(bus: Bus, clock: Clock, path: str, note: str) -> Recorder:
    try:
        rec = Recorder(path, clock, note=note)
    except OSError as e:
        raise StartupError(f"{path}: cannot write the recording: {e.strerror or e}") from None
    rec.attach(bus)
    return rec


def _data_dir(args: argparse.Namespace) -> Path:
    if args.data_dir:
        return Path(args.data_dir)
    env = os.environ.get("OPENMLINK_DATA_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "openmlink"


def _trading_config(args: argparse.Namespace) -> TradingConfig:
    from .trading import TradingConfig

    d = TradingConfig()
    rate = d.key_rate if args.order_rate is None else args.order_rate
    arate = d.accnt_rate if args.accnt_order_rate is None else args.accnt_order_rate
    return TradingConfig(key_rate=rate, key_burst=max(1, int(2 * rate)), accnt_rate=arate,
                         accnt_burst=max(1, int(2 * arate)), seed=args.seed or 1)


def _auction_config(args: argparse.Namespace) -> AuctionConfig:
    from .trading import AuctionConfig

    d = AuctionConfig()
    n = d.sim_responders if args.sim_responders is None else args.sim_responders
    window = d.flash_window_ms if args.flash_window_ms is None else args.flash_window_ms
    trial = d.block_trial_s if args.block_trial_seconds is None else args.block_trial_seconds
    if n < 0 or not 0 < window <= 100:
        raise StartupError("--sim-responders must be 0 or more and --flash-window-ms in (0, 100] "
                           f"(got {n} and {window:g})")
    if not 0 < trial <= d.block_max_s:
        raise StartupError(f"--block-trial-seconds must be in (0, {d.block_max_s:g}] (got {trial:g})")
    return AuctionConfig(seed=args.seed or 1, sim_responders=n, flash_window_ms=window,
                         block_trial_s=trial)


def _serve(args: argparse.Namespace) -> int:
    if args.loop_seconds is not None and not args.loop_seconds > 0:
        raise StartupError(f"--loop-seconds must be > 0, not {args.loop_seconds}")
    if args.risk_loop_seconds is not None and not args.risk_loop_seconds > 0:
        raise StartupError(f"--risk-loop-seconds must be > 0, not {args.risk_loop_seconds}")
    role = parse_role(args.role)
    bus = _bus(args, role)
    clock = _platform_clock(args) or LiveClock()
    rt = Runtime(clock, _sources(args) if role.sources else [], keep_serving=args.keep_serving)
    rt.prepare()  # before keys, data dir, port or kernels: a bad source stops here, at once
    from .analytics import set_parallel
    from .config import validated
    from .engines.implied import EngineConfig, StagedWarmUp
    from .gateway import HttpLimits, RestConfig, add_dashboard, make_app

    if not args.no_analytics and "implied" in role.engines:
        rt.warm = StagedWarmUp(say=rt.say)
        rt.warm.start()  # its first compiler process runs while the market source compiles
        set_parallel(False)  # serial twins only until the engine's kernels are all compiled
    keys, dev = _keys(args)
    cfg = validated(RestConfig(limit_cap=args.limit_cap, max_body_bytes=args.max_body_bytes),
                    "serve options")
    limits = validated(HttpLimits(max_url_bytes=args.max_url_bytes,
                                  max_header_bytes=args.max_header_bytes,
                                  max_connections=args.max_connections,
                                  idle_timeout_s=args.idle_timeout,
                                  listen_backlog=args.listen_backlog), "serve options")
    trading, auctions = _trading_config(args), _auction_config(args)
    from .trading import RiskConfig, load_positions

    positions = load_positions(args.positions) if args.positions else ()
    risk = RiskConfig() if args.risk_loop_seconds is None else RiskConfig(args.risk_loop_seconds)
    ecfg = EngineConfig() if args.loop_seconds is None else EngineConfig(loop_interval_s=args.loop_seconds)
    if args.rate_curve:
        ecfg = _with_rate_curve(ecfg, args.rate_curve)
    plat = rt.build(keys, rest_config=cfg, data_dir=None if args.no_persist else _data_dir(args),
                    engine_config=ecfg,
                    analytics=not args.no_analytics, trading_config=trading,
                    auction_config=auctions, risk_config=risk, positions=positions,
                    bus=bus, engines=role.engines, partitions=_partitions(args, role, bus),
                    # on NATS the order manager journals to JetStream and works under a lease
                    trading_standby=bus is not None)
    if bus is not None:
        say_stderr(f"role: {role} on the NATS bus {args.bus}")
        _receive_only_consumed(bus, role)
    app = make_app(plat.rest, limits=limits)
    add_dashboard(app)
    _attach_health(app, role, plat, rt)
    _attach_sql(app, plat, args)
    rec = (_attach_recorder(plat.bus, plat.clock, args.record, "openmlink serve --record")
           if args.record else None)
    if dev:
        say_stderr(f"development API key: {dev}")
    try:
        return rt.serve(app, args.host, args.port)
    finally:
        if rec is not None:
            rec.close()


def _attach_health(app: Any, role: Role, plat: Platform, rt: Runtime) -> None:
    """``GET /health``: the process's role and bus traffic as JSON (``runtime.health``), its
    security master (``securityMaster``), ``market`` (``Runtime.market_state``: ``loading``
    until the simulators' first snapshots are published, then ``live``; ``none`` without a
    source) and, with the trading engines, ``trading``: ``holder`` (it works the orders) or
    ``standby`` (docs/scale-out.md, order manager failover)."""
    from aiohttp import web

    async def handle(_request: web.Request) -> web.Response:
        parts = plat.engine.partitions if plat.engine is not None else None
        out = health(role, plat.bus, parts)
        # whether this process has a security master (its own simulator's, or one a market
        # process shared): series count and trade date, else null
        m = plat.security_master()
        out["securityMaster"] = (None if m is None else
                                 {"series": len(m.series), "today": m.today.isoformat()})
        out["market"] = rt.market_state()
        if "trading" in role.engines:  # on NATS: whether this process holds the trading lease
            out["trading"] = ("standby" if plat.start_trading is not None else
                              "holder" if plat.orders is not None else "none")
        return web.json_response(out)

    app.router.add_route("GET", "/health", handle)


def _receive_only_consumed(bus: NatsBus, role: Role) -> None:
    """(inferred) A process of ``--role engine NAME`` receives only the column data its
    engines read (``platform.column_types_read``: each engine's ``READS``, the tables it reads
    whether it subscribes to them or not), not the rest of the market and the other engines'
    outputs (for an implied engine the LiveImpliedQuote of the other partitions were half its
    inbound traffic; a trading or calc engine reads no prints, no LiveAtmVol...).  Its own
    REST serves those types only (clients connect to gateways).  Records of every type are
    received.  The gateway, market and all roles receive every type."""
    from .platform import column_types_read

    if role.name == "engine":
        types = column_types_read(role.engines)
        bus.receive_only(types)
        say_stderr(f"bus: column data received: {', '.join(sorted(types))} (--role {role})")


def _bus(args: argparse.Namespace, role: Role) -> NatsBus | None:
    """The NATS bus of ``--bus nats://HOST:PORT`` (None: the in-process default)."""
    if args.bus in (None, "inprocess"):
        if role.name != "all":
            raise StartupError(f"--role {role} needs a distributed bus (--bus nats://HOST:PORT)")
        return None
    if not args.bus.startswith(("nats://", "tls://")):
        raise StartupError(f"--bus {args.bus!r}: 'inprocess' or a NATS URL nats://HOST:PORT")
    try:
        import nats  # noqa: F401
    except ImportError:
        raise StartupError("--bus nats:// needs the NATS client: pip install 'openmlink[nats]'"
                           ) from None
    return NatsBus(args.bus, prefix=args.bus_prefix, name=f"openmlink {role}")


def _with_rate_curve(cfg: Any, path: str) -> Any:
    """``cfg`` with the base rate curve of ``--rate-curve FILE`` (docs/rates.md), the file read
    and checked now: a missing or malformed file stops the start naming the file and the line."""
    from msgspec.structs import replace

    from .analytics import RateCurve

    try:
        RateCurve.parse(Path(path).read_text(encoding="utf-8"), path)
    except OSError as e:
        raise StartupError(f"--rate-curve {path}: cannot read it: {e.strerror or e}") from None
    except ValueError as e:
        raise StartupError(f"--rate-curve {e}") from None
    return replace(cfg, rate_curve_file=path)


def _partitions(args: argparse.Namespace, role: Role, bus: NatsBus | None) -> Partitions | None:
    """The underliers the implied engine computes: ``--partition K/N``; else, on a NATS bus,
    a share of ``PARTITIONS`` leased with the other engine processes; else all (None)."""
    runs = "implied" in role.engines and not args.no_analytics
    if args.partition is not None:
        if bus is None or not runs:
            raise StartupError("--partition K/N is for an implied engine on a NATS bus "
                               "(--bus nats://... --role engine implied)")
        try:
            return parse_partition(args.partition)
        except ValueError as e:
            raise StartupError(str(e)) from None
    if bus is None or not runs:
        return None
    return Partitions(PARTITIONS, leased=True)


# ---------------------------------------------------------------- SQL endpoint (srse.sql)
SQL_DEFAULT_PORT = 3306


def _add_sql_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("SQL endpoint (MySQL protocol; log in with a key's userName and "
                             "the API key as password)")
    g.add_argument("--sql-port", type=int, default=None,
                   help=f"port of the SQL endpoint (default {SQL_DEFAULT_PORT}; if that port is "
                        "taken the endpoint stays off with a notice; 0: any free port)")
    g.add_argument("--no-sql", action="store_true", help="serve no SQL endpoint")
    g.add_argument("--sql-row-cap", type=int, default=1_000_000,
                   help="largest result (rows) a SQL query may return")
    g.add_argument("--sql-time-cap", type=float, default=30.0,
                   help="seconds a SQL query may run")


def _attach_sql(app: object, plat: Platform, args: argparse.Namespace) -> None:
    """Serve SQL for the life of the aiohttp application (started before REST listens)."""
    if args.no_sql:
        return
    from .srse.sql import EngineLimits, SqlConfig, SqlServer

    port = SQL_DEFAULT_PORT if args.sql_port is None else args.sql_port
    if not 0 <= port <= 65535:
        raise StartupError(f"--sql-port {port}: a port is 0..65535")
    if args.sql_row_cap < 1 or not args.sql_time_cap > 0:
        raise StartupError("--sql-row-cap must be at least 1 and --sql-time-cap above 0 "
                           f"(got {args.sql_row_cap} and {args.sql_time_cap})")
    limits = EngineLimits(row_cap=args.sql_row_cap, time_cap_s=args.sql_time_cap)
    server = SqlServer(plat.registry, plat.store, plat.keys.principals, plat.history,
                       SqlConfig(args.host, port, limits=limits))

    async def serve_sql(_app: object) -> AsyncIterator[None]:
        try:
            bound = await server.start()
        except OSError as e:
            if args.sql_port is not None:
                raise StartupError(f"cannot serve SQL on {args.host}:{port}: {e.strerror}") from None
            say_stderr(f"SQL endpoint off: port {port} is taken ({e.strerror}); "
                       "choose another with --sql-port")
            yield
            return
        say_stderr(f"serving SQL (MySQL protocol) on {args.host}:{bound}")
        try:
            yield
        finally:
            await server.stop()

    app.cleanup_ctx.append(serve_sql)  # type: ignore[attr-defined]


def _record(args: argparse.Namespace) -> int:
    """Run the simulator headless (as fast as it computes) and record what it publishes."""
    cfg = _sim_config(args)
    start = _start_ns(args) or time.time_ns()
    clock = SimClock(start)
    bus = InProcessBus()
    sim = MarketSimulator(cfg)
    sim.prepare(clock)
    rec = _attach_recorder(bus, clock, args.out,
                           f"openmlink record seed={cfg.seed} universe={cfg.universe}")
    for msg in sim.snapshot():
        bus.publish(msg)
    step_ns = int(cfg.tick_interval_ms * 1e6 * cfg.speed)
    end = start + int(args.seconds * 1e9)
    while sim.now_ns + step_ns <= end:
        msgs = sim.step(step_ns)
        clock.advance_to(sim.now_ns)
        for msg in msgs:
            bus.publish(msg)
    rec.close()
    print(f"openmlink: recorded {rec.messages} messages ({rec.records} records, "
          f"{sim.quotes_published} option quotes) to {args.out}: {rec.bytes_written} bytes",
          flush=True)
    return 0


def _chain_demo(args: argparse.Namespace) -> int:
    """Write simulator chains as Cboe-format CSV files (demo data for ``serve --chain``)."""
    cfg = _sim_config(args)
    sim = MarketSimulator(cfg)
    sim.prepare(SimClock(_start_ns(args) or time.time_ns()))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    day = trade_date_of(sim.now_ns).isoformat()
    for sym in args.symbols.split(","):
        path = out / f"{sym.strip().lower()}_{day}.csv"
        n = write_chain_csv(sim, sym.strip().upper(), path)
        print(f"openmlink: wrote {n} series to {path}", flush=True)
    return 0


def _add_sim_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("simulator")
    g.add_argument("--seed", type=int, default=None, help="random seed (default: from time)")
    g.add_argument("--universe", default="default",
                   help="default, small, full (~1.5M series) or a series count")
    g.add_argument("--quote-rate", type=float, default=SimConfig().quote_rate,
                   help="fraction of all series requoted per tick")
    g.add_argument("--tick-ms", type=int, default=SimConfig().tick_interval_ms,
                   help="real milliseconds between simulator ticks")
    g.add_argument("--speed", type=float, default=1.0,
                   help="simulated (or replayed) seconds per real second")
    g.add_argument("--start", default=None,
                   help="simulated start time, UTC 'YYYY-MM-DD HH:MM:SS' (default: now)")


def parser() -> argparse.ArgumentParser:
    """The ``openmlink`` command line (every subcommand)."""
    ap = argparse.ArgumentParser(prog="openmlink", description="Self-hosted MLink platform")
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the server (embedded defaults, no external service)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--api-key", help="accept this API key (also OPENMLINK_API_KEY)")
    s.add_argument("--keys-file", help="TOML file of API keys ([[key]] entries)")
    s.add_argument("--limit-cap", type=int, default=100_000, help="maximum getmsgs limit")
    s.add_argument("--max-body-bytes", type=int, default=16 * 1024 * 1024)
    s.add_argument("--max-url-bytes", type=int, default=1 << 20,
                   help="longest request URL (a GET's query string); longer: 414 QueryResult")
    s.add_argument("--max-header-bytes", type=int, default=16 * 1024,
                   help="longest request header line; longer: 431 QueryResult")
    s.add_argument("--max-connections", type=int, default=10_000,
                   help="open connections; when full, the oldest silent one is closed, else 503")
    s.add_argument("--idle-timeout", type=float, default=60.0,
                   help="seconds a connection may take to send a request head or stay idle")
    s.add_argument("--listen-backlog", type=int, default=1024,
                   help="connections the kernel queues before the server accepts them")
    s.add_argument("--data-dir", help="where client records persist (default $OPENMLINK_DATA_DIR "
                                      "or ~/.local/share/openmlink)")
    s.add_argument("--no-persist", action="store_true", help="keep client records in memory only")
    s.add_argument("--log-level", default="WARNING")
    d = s.add_argument_group("distributed platform (docs/scale-out.md)")
    d.add_argument("--bus", default="inprocess",
                   help="'inprocess' (default: one process, no external service) or the NATS "
                        "server of a distributed platform, nats://HOST:PORT")
    d.add_argument("--bus-prefix", default="oml",
                   help="first token of every NATS subject (one platform per prefix)")
    d.add_argument("--role", nargs="+", default=["all"], metavar="ROLE",
                   help="what this process runs: all (default), gateway, market, or "
                        "engine NAME[,NAME] (implied, trading, calc, all)")
    d.add_argument("--partition", metavar="K/N",
                   help="the implied engine computes only the underliers of partition K of N "
                        "(hash of the underlier); default on a NATS bus: partitions leased with "
                        "the other engine processes, taken over when one dies")
    _add_sim_options(s)
    s.add_argument("--loop-seconds", type=float, default=None,
                   help="seconds of (simulated) clock time between implied-quote Loop passes "
                        "(default 60)")
    s.add_argument("--rate-curve", default=None, metavar="FILE",
                   help="base rate curve (days,rate CSV; docs/rates.md) instead of the shipped dated one")
    s.add_argument("--no-analytics", action="store_true", help="start no analytics engine")
    _add_sql_options(s)
    s.add_argument("--positions", metavar="FILE",
                   help="start-of-day positions CSV (accnt,clientFirm,secKey,position[,mark]; "
                        "docs/risk.md)")
    s.add_argument("--risk-loop-seconds", type=float, default=None,
                   help="seconds of clock time between two publications of every risk record "
                        "(default 60)")
    s.add_argument("--order-rate", type=float, default=None,
                   help="order posts per second per API key (burst twice that; 0 = no limit; "
                        "default TradingConfig.key_rate)")
    s.add_argument("--accnt-order-rate", type=float, default=None,
                   help="order posts per second per account (burst twice that; 0 = no limit; "
                        "default TradingConfig.accnt_rate)")
    s.add_argument("--sim-responders", type=int, default=None,
                   help="simulated responders answering each auction (0 = none; default 8)")
    s.add_argument("--flash-window-ms", type=float, default=None,
                   help="flash auction window in ms (at most 100; default 20)")
    s.add_argument("--block-trial-seconds", type=float, default=None,
                   help="seconds between two trials of a block auction (its first cross comes "
                        "one period after the post; default 1)")
    m = s.add_argument_group("market source (default: the simulator)")
    m.add_argument("--chain", nargs="+", metavar="FILE", help="serve Cboe chain CSV snapshots")
    m.add_argument("--replay", metavar="FILE", help="replay a recording")
    m.add_argument("--fast", action="store_true", help="replay as fast as possible")
    m.add_argument("--no-market", action="store_true", help="start no market source")
    m.add_argument("--record", metavar="FILE", help="also record the bus to FILE")
    m.add_argument("--keep-serving", action="store_true",
                   help="keep serving when a market source fails while running (a replay "
                        "corrupt in the middle); default: report it and exit 1")
    r = sub.add_parser("record", help="run the simulator headless and record the bus")
    r.add_argument("--out", required=True, help="recording file to write")
    r.add_argument("--seconds", type=float, default=60.0, help="simulated seconds to record")
    r.add_argument("--log-level", default="WARNING")
    _add_sim_options(r)
    c = sub.add_parser("chain-demo", help="write simulated chains as Cboe CSV files")
    c.add_argument("--out", required=True, help="directory to write into")
    c.add_argument("--symbols", default="SPX,SPY,AAPL", help="comma-separated underliers")
    c.add_argument("--log-level", default="WARNING")
    _add_sim_options(c)
    from .client import cli as client_cli

    client_cli.add_commands(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    from .client import cli as client_cli

    ap = parser()
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    if args.command in client_cli.COMMANDS:
        return client_cli.run(args)
    if args.command == "serve" and args.chain and args.replay:
        ap.error("--chain and --replay are exclusive")
    commands = {"serve": _serve, "record": _record, "chain-demo": _chain_demo}
    try:
        return commands[args.command](args)
    except StartupError as e:  # a bad file, option or port: one line, no traceback
        print(f"openmlink: {e.one_line()}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
