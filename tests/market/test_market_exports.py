"""The public face of openmlink.market."""

from __future__ import annotations

import openmlink.market as market

EXPECTED = [
    "ChainSnapshot",
    "ChainSource",
    "Dividend",
    "ExpiryCycle",
    "FULL_MARKET_SERIES",
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


def test_exported_members_are_exactly_the_documented_names():
    assert sorted(market.__all__) == sorted(EXPECTED)
    assert len(set(market.__all__)) == len(market.__all__)
    for n in market.__all__:
        assert getattr(market, n) is not None


def test_market_does_not_import_the_gateway_or_analytics():
    import subprocess
    import sys

    code = ("import sys, openmlink.market; "
            "bad = [m for m in sys.modules if m.startswith(('openmlink.gateway', "
            "'openmlink.analytics'))]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
