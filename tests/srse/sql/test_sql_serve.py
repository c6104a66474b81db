"""``openmlink serve`` answers SQL beside REST: the start-up line, the mariadb/mysql command-line
client, mysql.connector against the real process, --no-sql, and a taken port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import mysql.connector
import pytest
import requests

from tests.conftest import API_KEY, Server, free_port, start_server, stop_server


def _lines_until(srv: Server, word: str, most: int = 6, timeout: float = 30.0) -> list[str]:
    """Start-up lines printed so far, up to the first containing ``word`` (at most ``most``)."""
    deadline = time.time() + timeout
    while True:
        lines = srv.output().splitlines(keepends=True)[:most]
        hit = [i for i, line in enumerate(lines) if word in line]
        if hit:
            return lines[:hit[0] + 1]
        if len(lines) >= most or time.time() > deadline:
            return lines
        time.sleep(0.05)


def _mysql_client() -> str:
    exe = shutil.which("mariadb") or shutil.which("mysql")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the mariadb client is missing: .ci/run installs mariadb-client")
        pytest.skip("no mariadb/mysql command-line client (apt-get install mariadb-client)")
    return exe


@pytest.fixture(scope="module")
def served():
    port = free_port()
    srv = start_server("--no-market", "--no-analytics", "--sql-port", str(port))
    lines = _lines_until(srv, "SQL")
    yield srv, port, lines
    stop_server(srv)


def test_start_up_line_names_the_sql_port(served):
    _srv, port, lines = served
    assert f"openmlink: serving SQL (MySQL protocol) on 127.0.0.1:{port}\n" in lines


def test_command_line_client(served):
    srv, port, _ = served
    post = srv.post([{"header": {"mTyp": "SpanRiskCalculator"},
                      "message": {"pkey": {"secKey": "AAPL-NMS-EQT-2026-01-16-200-P",
                                           "secType": "Option", "userName": "ann"}, "vol": 0.25}}],
                    postaction="I")
    assert post[0]["message"]["result"] == "OK"
    exe = _mysql_client()
    run = subprocess.run(
        [exe, "-h", "127.0.0.1", "-P", str(port), "-u", "dev", f"-p{API_KEY}", "--batch",
         "-e", "show databases; select secKey_tk, secKey_xx, secKey_cp, vol "
               "from sranalytics.msgspanriskcalculator; describe srtrade.msgsrparentbrkrstate"],
        capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    out = run.stdout.splitlines()
    assert "srtrade" in out and "sranalytics" in out
    assert "AAPL\t200.0\tPut\t0.25" in out, run.stdout
    assert any(line.startswith("parentNumber\tvarchar(19)") for line in out)
    bad = subprocess.run([exe, "-h", "127.0.0.1", "-P", str(port), "-u", "dev", f"-p{API_KEY}",
                          "-e", "delete from srtrade.msgsrparentorder"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "1290" in bad.stderr and "postmsgs" in bad.stderr


def test_mysql_connector_against_the_process(served):
    _srv, port, _ = served
    cnx = mysql.connector.connect(host="127.0.0.1", port=port, user="dev", password=API_KEY)
    cur = cnx.cursor()
    cur.execute("select count(*) from srtrade.msgsrparentbrkrstate_hist")
    assert cur.fetchall() == [(0,)]
    cnx.close()


def test_no_sql_serves_rest_only():
    port = free_port()
    srv = start_server("--no-market", "--no-analytics", "--no-sql", "--sql-port", str(port))
    try:
        assert requests.get(srv.rest, params={"cmd": "getmsgtypes", "apiKey": API_KEY}, timeout=10).ok
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    finally:
        stop_server(srv)


def test_a_taken_sql_port_named_explicitly_stops_the_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "openmlink", "serve", "--no-market",
                               "--no-analytics", "--no-persist", "--port", str(free_port()),
                               "--sql-port", str(port)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"cannot serve SQL on 127.0.0.1:{port}" in proc.stderr
