"""Assembly of the embedded platform: registry, bus, live tables, market sources, engines,
gateway.  Running it (sources prepared and started, engines' timers, serving) is
``openmlink.runtime``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .bus import InProcessBus, NatsBus, Partitions
from .clock import Clock, LiveClock
from .engines.implied import EngineConfig, ImpliedQuoteAdjuster, ImpliedQuoteEngine
from .gateway import ApiKeys, RestApi, RestConfig
from .market import MarketSimulator, SecurityMaster, Source
from .query import Bound, Leaf
from .schema import CLIENT_ACTIONS, Registry, registry
from .srse import TRADING_HISTORY, History, JournalStore, RecordStore
from .store import Store
from .trading import (
    AUDIENCE_TYPES,
    AuctionConfig,
    AuctionEngine,
    AutoHedgeEngine,
    OrderEngine,
    RiskConfig,
    RiskEngine,
    TradingConfig,
)
from .trading.auctions import AudienceRule, RemoteAudience, rule_from_json, rule_to_json
from .trading.risk import SodPosition

__all__ = ["ENGINES", "Platform", "build_platform", "column_types_read"]

#: the engine groups a process may run (``openmlink serve --role engine NAME``): the
#: implied-quote engine; the order manager with auctions, risk and the auto-hedger; the
#: client calculators (SPAN, theo surfaces)
ENGINES = frozenset({"implied", "trading", "calc"})


def column_types_read(engines: frozenset[str]) -> frozenset[str]:
    """The types whose column data (market data, other engines' outputs) the engine groups
    ``engines`` read from their tables, subscribed to or not: each engine's ``READS``.  A
    process of ``--role engine NAME`` receives these only (``NatsBus.receive_only``)."""
    from .engines.span import SpanEngine
    from .engines.theo import TheoEngine

    reads = {"implied": ImpliedQuoteEngine.READS,
             "trading": (OrderEngine.READS | AuctionEngine.READS | RiskEngine.READS
                         | AutoHedgeEngine.READS),
             "calc": SpanEngine.READS | TheoEngine.READS}
    if not engines <= reads.keys():
        raise ValueError(f"unknown engines {sorted(engines - reads.keys())}; known: {sorted(reads)}")
    return frozenset().union(*(reads[e] for e in engines))


@dataclass
class Platform:
    registry: Registry
    bus: InProcessBus
    store: Store
    clock: Clock
    keys: ApiKeys
    rest: RestApi
    sources: list[Source] = field(default_factory=list)
    engine: ImpliedQuoteEngine | None = None
    #: every version of orders, broker states, executions... (SQL ``<table>_hist``); engines
    #: may append versions of other records too
    history: History | None = None
    #: the client records' store in the data directory (``--data-dir``), None without one
    records: RecordStore | None = None
    orders: OrderEngine | None = None
    auctions: AuctionEngine | None = None
    risk: RiskEngine | None = None
    hedge: AutoHedgeEngine | None = None
    #: the security master of a market in another process (a distributed platform: built
    #: from the definition the market process shared, ``runtime``), when none runs here
    shared_master: SecurityMaster | None = None
    #: a trading engine standing by (``build_platform(trading_standby=True)``): called with the
    #: journal to work from, it builds the order manager, auctions, risk and the auto-hedger
    #: when this process takes the trading lease (docs/scale-out.md, order manager failover)
    start_trading: Callable[[JournalStore], None] | None = None

    def security_master(self) -> SecurityMaster | None:
        """The security master of the running simulator (after it started), else the one a
        market process shared, if any."""
        for s in self.sources:
            if isinstance(s, MarketSimulator) and s.started:
                return s.master
        return self.shared_master


def build_platform(keys: ApiKeys, clock: Clock | None = None,
                   rest_config: RestConfig | None = None,
                   sources: Sequence[Source] = (),
                   data_dir: str | Path | None = None,
                   engine_config: EngineConfig | None = None,
                   analytics: bool = True,
                   trading_config: TradingConfig | None = None,
                   auction_config: AuctionConfig | None = None,
                   risk_config: RiskConfig | None = None,
                   positions: Sequence[SodPosition] = (),
                   bus: InProcessBus | None = None,
                   engines: frozenset[str] = ENGINES,
                   partitions: Partitions | None = None,
                   trading_standby: bool = False) -> Platform:
    """Assemble the platform. With ``data_dir``, client-posted records (orders, limits,
    calculator inputs, theo surfaces) persist there and are reloaded at start.  ``positions``
    are the start-of-day positions (``trading.load_positions``).  ``bus``: the bus to build
    on (a ``NatsBus`` in a distributed platform; default a new ``InProcessBus``); ``engines``:
    which of ``ENGINES`` this process runs (all by default); ``partitions``: the underliers
    its implied-quote engine computes (default all; ``bus.Partitions``); ``trading_standby``:
    the trading engines are not built now but by ``Platform.start_trading`` (the runtime calls
    it when this process takes a NATS platform's trading lease)."""
    if not engines <= ENGINES:
        raise ValueError(f"unknown engines {sorted(engines - ENGINES)}; known: {sorted(ENGINES)}")
    reg = registry()
    bus = InProcessBus() if bus is None else bus
    store = Store(reg)
    store.attach(bus)
    srse: RecordStore | None = None
    if data_dir is not None:
        srse = RecordStore(Path(data_dir) / "srse.sqlite3")
        srse.load(reg, bus)
        srse.attach(bus, store, [reg[name] for name in CLIENT_ACTIONS])
    history = History(None if data_dir is None else Path(data_dir) / "history.sqlite3", reg)
    history.attach(bus, store, [reg[name] for name in TRADING_HISTORY])
    clk = clock or LiveClock()
    rest = RestApi(reg, store, bus, keys, clk, rest_config)
    plat = Platform(reg, bus, store, clk, keys, rest, list(sources), history=history,
                    records=srse)
    if "calc" in engines:
        _attach_client_analytics(plat)
    if "trading" in engines and trading_standby:
        # standing by, this process serves the auctions of the holder with their audiences
        # (the notes); once it holds the lease, its own too
        remote = _audience_from_bus(bus, store) if isinstance(bus, NatsBus) else None

        def start(journal: JournalStore) -> None:
            plat.start_trading = None
            _attach_trading(plat, data_dir, trading_config, auction_config, risk_config,
                            engine_config, positions, journal)
            _share_audience(plat, remote)
        plat.start_trading = start
    elif "trading" in engines:
        _attach_trading(plat, data_dir, trading_config, auction_config, risk_config,
                        engine_config, positions)
        _share_audience(plat)
    elif isinstance(bus, NatsBus):
        _audience_from_bus(bus, store)
    else:
        _auctions_closed_to_firms(store)
    if analytics and "implied" in engines:  # the implied-quote engine
        plat.engine = ImpliedQuoteEngine(bus, clk, engine_config, master=plat.security_master,
                                         partitions=partitions)
        plat.engine.attach()
    if analytics:  # the computed-on-read Adj table (a reader's view of the implied quotes)
        ImpliedQuoteAdjuster(store, clk).register()
    return plat


def _attach_trading(plat: Platform, data_dir: str | Path | None,
                    trading_config: TradingConfig | None, auction_config: AuctionConfig | None,
                    risk_config: RiskConfig | None, engine_config: EngineConfig | None,
                    positions: Sequence[SodPosition], journal: JournalStore | None = None) -> None:
    """The order manager (on ``journal``, else one in ``data_dir``), auctions, risk and the
    auto-hedger."""
    bus, store, reg, clk = plat.bus, plat.store, plat.registry, plat.clock
    plat.orders = OrderEngine(bus, store, reg, clk, data_dir=data_dir, config=trading_config,
                              master_fn=plat.security_master, journal=journal)
    plat.orders.attach()
    plat.auctions = AuctionEngine(bus, store, reg, clk, plat.orders, auction_config)
    plat.auctions.attach()
    # after the order manager: its restore put the day's executions back in the store
    # the slides price American options with the implied-quote engine's model
    risk_cfg = replace(risk_config or RiskConfig(),
                       american_model=(engine_config or EngineConfig()).american_model)
    plat.risk = RiskEngine(bus, store, reg, clk, master_fn=plat.security_master, sod=positions,
                           config=risk_cfg)
    plat.risk.attach()
    plat.hedge = AutoHedgeEngine(bus, store, reg, clk, master_fn=plat.security_master)
    plat.hedge.attach()


#: the topic of the notes (``NatsBus.publish_note``) carrying each auction's audience of firms
AUDIENCE_NOTE = "audience"


def _share_audience(plat: Platform, local: RemoteAudience | None = None) -> None:
    """On a NATS bus, the auction engine sends each auction's audience of firms (before its
    first record, in order with the records: ``NatsBus.publish_note``, key = noticeNumber) so
    the processes without it apply the same per-firm rule (``_audience_from_bus``); ``local``:
    this process's own audience from the bus (a trading process that stood by), which a note
    it sends does not reach, is told too."""
    bus = plat.bus
    if not isinstance(bus, NatsBus) or plat.auctions is None:
        return

    def send(notice: int, rule: AudienceRule | None) -> None:
        if local is not None:
            local.add_rule(notice, rule)
        bus.publish_note(AUDIENCE_NOTE, str(notice), rule_to_json(rule))
    plat.auctions.manager.audience.on_add = send


def _audience_from_bus(bus: NatsBus, store: Store) -> RemoteAudience:
    """A process without the auction engine on a NATS bus: reads of AuctionNotice /
    AuctionState follow the audiences the engine's process sends; an auction whose audience
    has not arrived is shown to no firm-bound reader (fail closed)."""
    audience = RemoteAudience()

    def on_note(key: str, data: bytes) -> None:
        audience.add_rule(int(key), rule_from_json(data))
    bus.on_note(AUDIENCE_NOTE, on_note)
    audience.register(store)
    return audience


def _auctions_closed_to_firms(store: Store) -> None:
    """(inferred) A process without the auction engine does not know who each auction's audience
    is (it lives with the engine): readers bound to a client firm see no AuctionNotice /
    AuctionState there rather than every firm's auctions (fail closed); keys with no firm see
    them all."""
    nothing = Leaf("noticeNumber", "noticeNumber", None, "num", "in", frozenset())

    def rule(who: object) -> Bound | None:
        return None if getattr(who, "client_firm", None) is None else nothing
    for name in AUDIENCE_TYPES:
        store.restrict_rows(name, rule)


def _attach_client_analytics(plat: Platform) -> None:
    """SPAN calculator and client theo engines (react to client posts on the bus)."""
    from .engines.span import SpanEngine
    from .engines.theo import TheoEngine

    SpanEngine(plat.bus, plat.store, plat.registry, plat.clock, plat.security_master).attach()
    TheoEngine(plat.bus, plat.store, plat.registry, plat.clock, plat.security_master).attach()
