"""``openmlink query|stream|post|schema|sql`` against a seeded simulator whose first tick is
100 s away, so every output is fixed: compared with snapshots."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from openmlink.cli import main
from openmlink.client import MLinkError, sql_frame, sql_query
from tests.conftest import API_KEY
from tests.support.serve import Served, serve_on

FROZEN = ("--universe", "small", "--seed", "7", "--no-analytics", "--sql-port", "0",
          "--start", "2025-06-02 15:00:00", "--tick-ms", "100000")


@pytest.fixture(scope="module")
def frozen() -> Iterator[Served]:
    s = serve_on(*FROZEN)
    yield s
    s.stop()


@pytest.fixture
def env(frozen, monkeypatch):
    monkeypatch.setenv("OPENMLINK_URL", frozen.url)
    monkeypatch.setenv("OPENMLINK_KEY", API_KEY)
    return frozen


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


STOCKS = """\
ticker_at  ticker_ts  ticker_tk  bidPrice1  bidSize1  askPrice1
---------  ---------  ---------  ---------  --------  ---------
EQT        NMS        AAPL          229.99       100        230
EQT        NMS        CAKE           49.99      1000      50.01
EQT        NMS        SPX             5900                 5900
EQT        NMS        SPY           589.99      1200        590
"""

SPY_CSV = """\
okey_at,okey_ts,okey_tk,okey_dt,okey_xx,okey_cp,bidPrice,askPrice,bidSize
EQT,NMS,SPY,2025-06-02,590,Call,0.92,0.95,65
EQT,NMS,SPY,2025-06-02,590,Put,0.91,0.93,15
EQT,NMS,SPY,2025-06-02,591,Call,0.37,0.39,80
EQT,NMS,SPY,2025-06-02,591,Put,1.35,1.39,28
"""


def test_query_table_csv_json_and_count(env, capsys):
    rc, out, _ = cli(capsys, "query", "StockBookQuote", "--view", "bidPrice1|askPrice1|bidSize1",
                     "--order", "ticker.tk:ASC")
    assert rc == 0 and out == STOCKS
    rc, out, _ = cli(capsys, "query", "OptionNbboQuote", "-w", "okey.tk:eq:SPY & okey.xx:cb:590$600",
                     "-o", "okey.dt:ASC|okey.xx:ASC|okey.cp:ASC", "-l", "4",
                     "-v", "bidPrice|askPrice|bidSize", "-f", "csv")
    assert rc == 0 and out == SPY_CSV
    rc, out, _ = cli(capsys, "query", "StockBookQuote", "--pkey", "SPY-NMS-EQT", "-v", "bidPrice1",
                     "-f", "json")
    assert json.loads(out) == [{"pkey": {"ticker": {"at": "EQT", "ts": "NMS", "tk": "SPY"}},
                                "bidPrice1": 589.99}]
    rc, out, _ = cli(capsys, "query", "OptionNbboQuote", "--where", "okey.tk:eq:CAKE", "--count")
    assert rc == 0 and int(out) > 100


def test_stream_snapshot_as_table_and_json_lines(env, capsys):
    rc, out, _ = cli(capsys, "stream", "StockBookQuote", "--view", "bidPrice1|askPrice1|bidSize1",
                     "--snapshot", "-f", "table")
    assert rc == 0 and out == STOCKS
    rc, out, _ = cli(capsys, "stream", "StockBookQuote", "--view", "bidPrice1|askPrice1|bidSize1",
                     "--snapshot", "-f", "table", "--framing", "jsonf")
    assert rc == 0 and out == STOCKS  # the framed transport carries the same records
    rc, out, _ = cli(capsys, "stream", "StockBookQuote", "-w", "ticker.tk:eq:SPY",
                     "-v", "bidPrice1|askPrice1", "--snapshot")
    assert rc == 0 and [json.loads(x) for x in out.splitlines()] == [
        {"pkey": {"ticker": {"at": "EQT", "ts": "NMS", "tk": "SPY"}}, "bidPrice1": 589.99,
         "askPrice1": 590.0}]
    rc, out, _ = cli(capsys, "stream", "OptionNbboQuote", "-w", "okey.tk:eq:SPY",
                     "-v", "bidPrice", "--max-records", "3", "-f", "csv")
    lines = out.splitlines()
    assert rc == 0 and lines[0] == "okey_at,okey_ts,okey_tk,okey_dt,okey_xx,okey_cp,bidPrice"
    assert len(lines) == 4 and all(x.startswith("EQT,NMS,SPY,") for x in lines[1:])


def test_stream_at_latency_0_asks_for_full_scans(env, capsys):
    # the market is frozen: after the snapshot only a FullScan brings records
    rc, out, _ = cli(capsys, "stream", "StockBookQuote", "--latency", "0", "--scan-seconds", "0.3",
                     "--max-records", "12", "-v", "bidPrice1", "--seconds", "30")
    tickers = [json.loads(x)["pkey"]["ticker"]["tk"] for x in out.splitlines()]
    assert rc == 0 and len(tickers) == 12
    assert sorted(tickers) == sorted(["AAPL", "CAKE", "SPX", "SPY"] * 3)


def test_schema_of_a_type_and_the_type_list(env, capsys):
    rc, out, _ = cli(capsys, "schema", "StockBookQuote", "-f", "csv")
    lines = out.splitlines()
    assert rc == 0 and lines[0] == "pos,name,fType,isPkey,eName,eSet,desc"
    assert lines[1] == "1,ticker,TickerKey,Yes,,,"
    assert lines[4].startswith("4,bidPrice1,Float,No,,,")
    rc, out, _ = cli(capsys, "schema")
    assert rc == 0 and re.search(r"^LiveImpliedQuote\s+1015\s+OptAnalytics\s+1000-analytics$", out,
                                 re.M)


def test_post_a_file_and_a_refused_message(env, capsys, tmp_path):
    body = {"pkey": {"secKey": "CLI-NMS-EQT-2026-01-16-100-C", "secType": "Option",
                     "userName": "cli"}, "vol": 0.3, "uPrc": 99.0}
    f = tmp_path / "span.json"
    f.write_text(json.dumps(body))
    rc, out, _ = cli(capsys, "post", str(f), "--type", "SpanRiskCalculator", "-f", "csv")
    head, row = out.splitlines()
    assert rc == 0 and head == "pkey,msgType,sendTs,result"
    assert re.fullmatch(r"CLI-NMS-EQT-2026-01-16-100-C\|Option\|cli,5060,\d+,OK", row), row
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"header": {"mTyp": "SpanRiskCalculator"},
                                "message": {**body, "vol": "x"}}]))
    rc, out, _ = cli(capsys, "post", str(bad))
    assert rc == 1 and "ParseError" in out and "vol" in out
    rc, _, err = cli(capsys, "post", str(f))
    assert rc == 2 and "needs --type" in err
    rc, _, err = cli(capsys, "post", str(tmp_path / "missing.json"))
    assert rc == 2 and "missing.json" in err


def test_sql(env, capsys):
    port = re.search(r"serving SQL \(MySQL protocol\) on [\d.]+:(\d+)", env.output()).group(1)
    rc, out, _ = cli(capsys, "sql", "--sql-port", port,
                     "select ticker_tk, bidPrice1 from srlive.msgstockbookquote order by ticker_tk")
    assert rc == 0 and out == """\
ticker_tk  bidPrice1
---------  ---------
AAPL          229.99
CAKE           49.99
SPX             5900
SPY           589.99
"""
    rc, _, err = cli(capsys, "sql", "--sql-port", port, "select nope from srlive.msgstockbookquote")
    assert rc == 1 and "nope" in err
    df = sql_frame("select ticker_tk, askPrice1 from srlive.msgstockbookquote where ticker_tk = 'SPY'",
                   host="127.0.0.1", port=int(port), key=API_KEY)
    assert df.to_dict("records") == [{"ticker_tk": "SPY", "askPrice1": 590.0}]
    with pytest.raises(MLinkError) as e:
        sql_query("select 1", host="127.0.0.1", port=int(port), key="BAD0-0000-0000-0000")
    assert e.value.record == "SQL" and e.value.result == "1045"


def test_errors_and_missing_key(env, capsys, monkeypatch):
    rc, _, err = cli(capsys, "query", "Nope")
    assert rc == 1
    assert err.strip() == "openmlink query: QueryResult Error: msgType: unknown message type 'Nope'"
    rc, _, err = cli(capsys, "stream", "StockBookQuote", "-w", "bidPrice1:zz:1", "--snapshot")
    assert rc == 1 and "MLinkStreamAck Error" in err and "zz" in err
    monkeypatch.delenv("OPENMLINK_KEY")
    monkeypatch.delenv("OPENMLINK_API_KEY", raising=False)
    rc, _, err = cli(capsys, "query", "StockBookQuote")
    assert rc == 2 and "no API key" in err
    rc, _, err = cli(capsys, "query", "StockBookQuote", "--key", "BAD0-0000-0000-0000")
    assert rc == 1 and "AuthError" in err
