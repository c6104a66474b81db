"""Market sources: securities and calendars, the live simulator, the Cboe chain loader,
the recorder and the replayer (ARCHITECTURE: market/)."""

from ._calendar import (
    ExpiryCycle,
    expiry_dates,
    holidays,
    is_trading_day,
    last_close_at_or_before,
    monthly_expiry,
    third_friday,
    trade_date_of,
)
from ._cboe import ChainSnapshot, ChainSource, load_chain, parse_osi
from ._cboe_writer import osi_symbol, write_chain_csv
from ._recorder import Recorder, Replayer, read_recording
from ._securities import Dividend, OptionRoot, SecurityMaster, SeriesTable, Underlier
from ._simulator import MarketSimulator, SimConfig
from ._source import Source, run_sources, sources_context
from ._universe import FULL_MARKET_SERIES, build_universe, default_universe

__all__ = [
    "FULL_MARKET_SERIES",
    "ChainSnapshot",
    "ChainSource",
    "Dividend",
    "ExpiryCycle",
    "MarketSimulator",
    "OptionRoot",
    "Recorder",
    "Replayer",
    "SecurityMaster",
    "SeriesTable",
    "SimConfig",
    "Source",
    "Underlier",
    "build_universe",
    "default_universe",
    "expiry_dates",
    "holidays",
    "is_trading_day",
    "last_close_at_or_before",
    "load_chain",
    "monthly_expiry",
    "osi_symbol",
    "parse_osi",
    "read_recording",
    "run_sources",
    "sources_context",
    "third_friday",
    "trade_date_of",
    "write_chain_csv",
]
