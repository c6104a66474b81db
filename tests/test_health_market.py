"""``GET /health`` says whether the market is loaded: the port answers while a simulator's
first snapshot is still computed (on an empty Numba cache for several seconds), so a client or
a test that needs quotes waits for ``market: live``."""

from __future__ import annotations

import requests

from tests.conftest import start_server, stop_server


def test_market_is_live_with_quotes_once_the_health_says_so() -> None:
    s = start_server("--no-persist")  # returns once /health says the market is not loading
    try:
        assert requests.get(f"{s.base}/health", timeout=5).json()["market"] == "live"
        got = s.get(cmd="getcount", msgType="OptionNbboQuote")
        assert got[0]["message"]["count"] > 1000, got
    finally:
        stop_server(s)


def test_no_source_no_market() -> None:
    s = start_server("--no-persist", "--no-market")
    try:
        assert requests.get(f"{s.base}/health", timeout=5).json()["market"] == "none"
    finally:
        stop_server(s)
