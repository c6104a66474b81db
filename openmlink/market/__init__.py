"""Market sources: securities and calendars, the live simulator, the Cboe chain loader,
the recorder and the replayer (ARCHITECTURE: market/)."""

from ._calendar import (
    CLOSE_TIME,
    NEW_YORK,
    OPEN_TIME,
    ExpiryCycle,
    expiry_dates,
    holidays,
    is_trading_day,
    last_close_at_or_before,
    local_ns,
    monthly_expiry,
    next_trading_day,
    previous_trading_day,
    session_state,
    third_friday,
    trade_date_of,
    weekly_expiry,
)
from ._cboe import ChainSnapshot, ChainSource, load_chain
from ._cboe_parse import parse_osi, parse_quote_time
from ._cboe_writer import osi_symbol, write_chain_csv
from ._columns import (
    expiry_key_columns,
    key_ordinal,
    ms_since_midnight,
    msg_type,
    option_key_columns,
    ordinal,
    ticker_key_columns,
)
from ._errors import ChainFormatError, RecordingError, SourceError
from ._master_text import master_from_json, master_to_json
from ._recorder import Recorder, Replayer, read_header, read_recording
from ._securities import Dividend, OptionRoot, SecurityMaster, SeriesTable, Underlier
from ._simulator import MarketSimulator, SimConfig
from ._source import Source
from ._universe import FULL_MARKET_SERIES, build_universe, default_universe

__all__ = [
    "CLOSE_TIME",
    "FULL_MARKET_SERIES",
    "NEW_YORK",
    "OPEN_TIME",
    "ChainFormatError",
    "ChainSnapshot",
    "ChainSource",
    "Dividend",
    "ExpiryCycle",
    "MarketSimulator",
    "OptionRoot",
    "Recorder",
    "RecordingError",
    "Replayer",
    "SecurityMaster",
    "SeriesTable",
    "SimConfig",
    "Source",
    "SourceError",
    "Underlier",
    "build_universe",
    "default_universe",
    "expiry_dates",
    "expiry_key_columns",
    "holidays",
    "is_trading_day",
    "key_ordinal",
    "last_close_at_or_before",
    "load_chain",
    "local_ns",
    "master_from_json",
    "master_to_json",
    "monthly_expiry",
    "ms_since_midnight",
    "msg_type",
    "next_trading_day",
    "option_key_columns",
    "ordinal",
    "osi_symbol",
    "parse_osi",
    "parse_quote_time",
    "previous_trading_day",
    "read_header",
    "read_recording",
    "session_state",
    "third_friday",
    "ticker_key_columns",
    "trade_date_of",
    "weekly_expiry",
    "write_chain_csv",
]
