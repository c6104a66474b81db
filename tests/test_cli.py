"""The `openmlink` command: options that shape the platform as a whole, bad input stopping it
with one line (subprocesses, exit status and stderr checked), the start-up lines."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port, start_server, stop_server
from tests.support.paths import FIXTURES
from tests.support.process import Cli, ServeProcess, run_cli


def test_simulated_start_time_drives_the_platform_clock():
    srv = start_server("--start", "2025-06-05 14:00:00", "--speed", "10", "--seed", "3",
                       "--no-analytics")
    try:
        got = srv.get(cmd="getcount", msgType="StockBookQuote")
        stamp = got[-1]["message"]["receiveTimestamp"]
        assert stamp.startswith("2025-06-05 14:0"), stamp
    finally:
        stop_server(srv)


# ---------------------------------------------------------------------- failing loudly
BAD_CHAINS = {
    "bad_extra_cell.csv": "line 8: 23 cells where the header (line 4) has 22",
    "bad_missing_column.csv": "line 4: required column 'Ask' missing on the puts side",
    "bad_number.csv": "line 9: column 'Bid' (calls): '1.2.3' is not a number",
    "bad_date.csv": "line 3: date '2023-09-14 16:31' not understood",
    "bad_zone.csv": "line 3: date 'September 14, 2023 at 1:31 PM PDT': time zone 'PDT' not known",
    "bad_put_in_calls.csv": "line 10: column 'Calls': 'SPX230915P04550000' is a put",
}


def _one_line_failure(cli: Cli, rc: int, expect: str) -> None:
    print(f"\n  exit {cli.rc} after {cli.seconds:.2f} s: {cli.text}")
    assert cli.rc == rc, cli.text
    assert len(cli.lines) == 1 and cli.lines[0].startswith(expect), cli.text  # no traceback


@pytest.mark.parametrize("name", sorted(BAD_CHAINS))
def test_a_malformed_chain_stops_serve_with_one_line_naming_file_line_and_problem(name):
    path = FIXTURES / "cboe" / name
    cli = run_cli("serve", "--no-persist", "--port", str(free_port()), "--chain",
                  str(FIXTURES / "cboe" / "spy_2023-09-14.csv"), str(path))
    _one_line_failure(cli, 2, f"openmlink: ChainFormatError: {path} {BAD_CHAINS[name]}")


def test_a_missing_replay_file_stops_serve(tmp_path):
    path = tmp_path / "missing.oml"
    cli = run_cli("serve", "--no-persist", "--port", str(free_port()), "--replay", str(path))
    _one_line_failure(cli, 2, f"openmlink: RecordingError: {path}: cannot read: No such file or "
                              f"directory")


def test_an_unknown_universe_stops_serve():
    cli = run_cli("serve", "--no-persist", "--port", str(free_port()), "--universe", "everything")
    _one_line_failure(cli, 2, "openmlink: SourceError: simulator: universe must be default, small, "
                              "full or a series count, not 'everything'")


def test_bad_speed_start_and_record_options_stop_the_commands(tmp_path):
    cli = run_cli("serve", "--no-persist", "--port", str(free_port()), "--speed", "0")
    _one_line_failure(cli, 2, "openmlink: SourceError: simulator: speed must be a positive number, "
                              "not 0.0")
    cli = run_cli("serve", "--no-persist", "--port", str(free_port()), "--start", "soon")
    assert cli.rc == 2 and len(cli.lines) == 1
    assert cli.lines[0].startswith("openmlink: StartupError: --start 'soon': "), cli.text
    cli = run_cli("record", "--out", str(tmp_path / "no" / "such" / "dir.oml"), "--seconds", "1",
                  "--universe", "small")
    assert cli.rc == 2 and len(cli.lines) == 1, cli.text
    assert "cannot write the recording: No such file or directory" in cli.lines[0]


def test_a_port_in_use_stops_serve_with_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        cli = run_cli("serve", "--no-persist", "--no-analytics", "--universe", "small",
                      "--api-key", "K", "--port", str(port))
    assert cli.rc == 2, cli.text
    assert cli.lines[-1] == (f"openmlink: StartupError: cannot listen on 127.0.0.1:{port}: "
                             f"Address already in use")
    assert not any("Traceback" in ln for ln in cli.lines)


@pytest.fixture(scope="module")
def truncated_recording(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rec") / "sim.oml"
    cli = run_cli("record", "--out", str(out), "--seconds", "3", "--seed", "4", "--universe",
                  "small", timeout=120)
    assert cli.rc == 0, cli.text
    data = out.read_bytes()
    out.write_bytes(data[:-100])  # the last frame cut short: the first ones replay, then it fails
    return out


def test_a_replay_corrupt_in_the_middle_ends_serve_with_one_line(truncated_recording):
    srv = ServeProcess("--no-persist", "--no-analytics", "--api-key", "K", "--replay",
                       str(truncated_recording), "--fast")
    try:
        srv.wait_for(r"^openmlink: listening: ", 30)
        m = srv.wait_for(r"^openmlink: RecordingError: .*", 30)
        rc = srv.proc.wait(20)
    finally:
        srv.stop()
    assert rc == 1, srv.lines
    assert m.group(0).startswith(f"openmlink: RecordingError: {truncated_recording} at byte ")
    assert "truncated" in m.group(0)
    assert not any("Traceback" in ln for ln in srv.lines)


def test_keep_serving_keeps_serving_after_the_replay_fails(truncated_recording):
    srv = ServeProcess("--no-persist", "--no-analytics", "--api-key", "K", "--replay",
                       str(truncated_recording), "--fast", "--keep-serving")
    try:
        srv.wait_for(r"^openmlink: RecordingError: .* truncated", 30)
        srv.wait_for(r"^openmlink: market: replay stopped; still serving \(--keep-serving\)$", 10)
        srv.wait_for(r"^openmlink: listening: ", 30)
        got = requests.get(f"{srv.base}/rest/json", params={
            "apiKey": "K", "cmd": "getcount", "msgType": "OptionNbboQuote"}, timeout=10).json()
        assert got[0]["message"]["count"] > 0  # what was replayed before the damage is served
    finally:
        rc = srv.stop()
    assert rc == 0


# ---------------------------------------------------------------------- start-up lines
def test_start_up_says_what_it_is_doing():
    srv = ServeProcess("--no-persist", "--universe", "small", "--seed", "5")
    try:
        srv.wait_for(r"^openmlink: market: simulator: universe small, \d+ series on 4 underliers, "
                     r"seed 5, speed 1x$", 30)
        key = srv.wait_for(r"^openmlink: development API key: (\S+)$", 30).group(1)
        srv.wait_for(rf"^openmlink: listening: REST http://127\.0\.0\.1:{srv.port}/rest/json, "
                     rf"WebSocket ws://127\.0\.0\.1:{srv.port}/mlink/json, "
                     rf"dashboard http://127\.0\.0\.1:{srv.port}/$", 30)
        srv.wait_for(r"^openmlink: analytics: compiling kernels", 30)
        ready = srv.wait_for(r"^openmlink: analytics: kernels ready in (\d+\.\d) s$", 240)
        first = srv.wait_for(r"^openmlink: analytics: first Loop pass done: (\d+) series in "
                             r"(\d+\.\d) s$", 120)
        print(f"\n  kernels ready in {ready.group(1)} s; first Loop pass: {first.group(1)} series "
              f"in {first.group(2)} s")
        assert int(first.group(1)) > 1000
        got = requests.get(f"{srv.base}/rest/json", params={
            "apiKey": key, "cmd": "getcount", "msgType": "LiveImpliedQuote"}, timeout=10).json()
        assert got[0]["message"]["count"] > 1000
        order = [i for p in ("market: simulator", "listening:", "analytics: compiling kernels",
                             "analytics: kernels ready", "analytics: first Loop pass")
                 for i, ln in enumerate(srv.lines) if ln.startswith(f"openmlink: {p}")]
        assert order == sorted(order) and len(order) == 5
    finally:
        assert srv.stop() == 0


def test_a_missing_or_malformed_rate_curve_file_stops_serve(tmp_path):
    bad = tmp_path / "curve.csv"
    bad.write_text("days,rate\n180,abc\n")
    cli = run_cli("serve", "--no-persist", "--no-sql", "--port", str(free_port()), "--rate-curve", str(bad))
    assert cli.rc == 2, cli.text
    assert cli.lines[-1] == (f"openmlink: StartupError: --rate-curve {bad} line 2: days and rate must "
                             "be numbers, got '180,abc'"), cli.text
    gone = tmp_path / "nope.csv"
    cli = run_cli("serve", "--no-persist", "--no-sql", "--port", str(free_port()), "--rate-curve", str(gone))
    assert cli.rc == 2, cli.text
    assert cli.lines[-1] == (f"openmlink: StartupError: --rate-curve {gone}: cannot read it: "
                             "No such file or directory"), cli.text
