"""`openmlink serve` options that shape the platform as a whole."""

from __future__ import annotations

from tests.conftest import start_server, stop_server


def test_simulated_start_time_drives_the_platform_clock():
    srv = start_server("--start", "2025-06-05 14:00:00", "--speed", "10", "--seed", "3",
                       "--no-analytics")
    try:
        got = srv.get(cmd="getcount", msgType="StockBookQuote")
        stamp = got[-1]["message"]["receiveTimestamp"]
        assert stamp.startswith("2025-06-05 14:0"), stamp
    finally:
        stop_server(srv)
