"""SQL over the MySQL protocol with mysql.connector and PyMySQL: the seed's query, browsing,
selects, joins, aggregates, history, caps and errors."""

from __future__ import annotations

import datetime as dt
import math
import threading

import mysql.connector
import pymysql
import pytest

from tests.srse.sql.conftest import brkr_state, execution, okey
from tests.support.paths import SEEDS
from tests.support.seeds import NOTEBOOK, notebook_sql_cell, notebook_text
from tests.support.sql import ACME, DEV, SqlHarness, implied_quote_columns

PARENT = "02BD-B117-8025-5342"
#: seed example 6 (block auction) step 2, verbatim
ORDER_SQL = """
select noticeNumber from srtrade.msgsrparentbrkrstate where parentNumber = '{parentNumber}';
"""


def test_seed_block_auction_step2_returns_the_notice_number(sql):
    sql.publish("SpdrParentBrkrState", brkr_state("ACME", PARENT, "0000-0000-00AB-0001"))
    sql.publish("SpdrParentBrkrState", brkr_state("ACME", "0000-0000-0000-0009", "0000-0000-0000-0002",
                                                  accnt="A2"))
    parentNumber = PARENT  # the notebook's name
    query = f"""
select noticeNumber from srtrade.msgsrparentbrkrstate where parentNumber = '{parentNumber}';
"""
    # the notebook's cell, unchanged but for host, port, user and password
    cnx = mysql.connector.connect(host="127.0.0.1", port=sql.port, user=ACME.user_name,
                                  password=ACME.key)
    cur = cnx.cursor()
    cur.execute(query)
    results = cur.fetchall()
    notice_numbers = [row[0] for row in results]
    cur.close()
    cnx.close()
    assert notice_numbers == ["0000-0000-00AB-0001"]


def test_seed_text_is_the_query_tested():
    assert ORDER_SQL.strip() in notebook_text()  # the shipped copy of the notebook's cell
    if (SEEDS / NOTEBOOK).exists():  # and that copy is the seed's text where ../shared has it
        assert notebook_sql_cell((SEEDS / NOTEBOOK).read_text()) == notebook_text()


def test_browsing_show_describe_information_schema(sql):
    cnx = sql.connect_mysql(DEV)
    cur = cnx.cursor()
    cur.execute("show databases")
    dbs = {r[0] for r in cur.fetchall()}
    assert {"srtrade", "sranalytics", "srrisk", "srtheo", "srlive", "srmlink"} <= dbs
    cur.execute("show tables from srtrade")
    tables = {r[0] for r in cur.fetchall()}
    assert {"msgsrparentbrkrstate", "msgsrparentexecution", "msgsrparentorder"} <= tables
    assert "msgsrparentexecution_hist" in tables  # the trading history tables
    cur.execute("use sranalytics")
    cur.execute("show tables")
    assert ("msgliveimpliedquote",) in cur.fetchall()
    cur.execute("describe msgliveimpliedquote")
    desc = {r[0]: r[1] for r in cur.fetchall()}
    assert desc["okey_tk"] == "varchar" and desc["okey_dt"] == "date"
    assert desc["okey_xx"] == "double" and desc["okey_cp"] == "varchar"
    assert desc["timestamp"] == "datetime(6)" and desc["priceType"] == "varchar"
    cur.execute("select column_name, data_type from information_schema.columns "
                "where table_schema = 'srtrade' and table_name = 'msgsrparentbrkrstate'")
    cols = dict(cur.fetchall())
    assert cols["parentNumber"] == "varchar(19)" and cols["updateDttm"] == "datetime(6)"
    with pytest.raises(mysql.connector.Error) as e:
        cur.execute("use nosuchdb")
    assert e.value.errno == 1049
    cnx.close()


def _quotes(sql: SqlHarness, n: int = 4000) -> None:
    sql.publish_columns("LiveImpliedQuote", implied_quote_columns(n))


def test_selects_where_order_limit_with_readable_values(sql):
    _quotes(sql)
    cnx = sql.connect_mysql(DEV)
    cur = cnx.cursor()
    cur.execute("select okey_tk, okey_dt, okey_xx, okey_cp, oBidIv, oAskIv, timestamp, calcErr "
                "from sranalytics.msgliveimpliedquote where okey_tk = 'MSFT' and okey_cp = 'Put' "
                "order by okey_xx desc, okey_dt limit 5")
    rows = cur.fetchall()
    assert len(rows) == 5
    assert all(r[0] == "MSFT" and r[3] == "Put" for r in rows)
    assert [r[2] for r in rows] == sorted((r[2] for r in rows), reverse=True)
    assert isinstance(rows[0][1], dt.date) and rows[0][1] >= dt.date(2026, 1, 16)
    assert rows[0][6] == dt.datetime(2026, 1, 5, 8, 0)  # 1_767_600_000 s, UTC
    assert rows[0][7] == "None"  # enum default, by name
    cur.execute("select count(*) from sranalytics.msgliveimpliedquote where oAskIv is null")
    assert cur.fetchall() == [(math.ceil(4000 / 7),)]  # NaN is NULL
    cnx.close()


def test_aggregates(sql):
    _quotes(sql)
    cnx = sql.connect_pymysql(DEV)
    with cnx.cursor() as cur:
        cur.execute("select okey_tk, count(*), min(okey_xx), max(okey_xx), avg(oBidIv) "
                    "from sranalytics.msgliveimpliedquote group by okey_tk order by okey_tk")
        rows = cur.fetchall()
    assert [r[0] for r in rows] == ["AAPL", "MSFT", "QQQ", "SPY"]
    assert all(r[1] == 1000 for r in rows)
    assert all(r[2] == 50.0 for r in rows)
    assert all(0.1 < float(r[4]) < 0.6 for r in rows)
    cnx.close()


def test_join_executions_with_implied_quotes_on_the_option_key(sql):
    _quotes(sql)
    k1, k2 = okey("AAPL", "2026-01-16", 50.0, "Call"), okey("MSFT", "2026-01-23", 51.0, "Put")
    sql.publish("SpdrParentExecution", execution("ACME", "0000-0000-0000-0011", PARENT, k1, qty=3))
    sql.publish("SpdrParentExecution", execution("ACME", "0000-0000-0000-0012", PARENT, k2, qty=4))
    sql.publish("SpdrParentExecution", execution("ZETA", "0000-0000-0000-0013", PARENT, k2, qty=9))
    q = ("select e.fillNumber, e.fillQuantity, q.okey_tk, q.oBidIv "
         "from srtrade.msgsrparentexecution e join sranalytics.msgliveimpliedquote q "
         "on e.secKey_tk = q.okey_tk and e.secKey_dt = q.okey_dt and e.secKey_xx = q.okey_xx "
         "and e.secKey_cp = q.okey_cp order by e.fillNumber")
    for who, want in ((DEV, ["0000-0000-0000-0011", "0000-0000-0000-0012", "0000-0000-0000-0013"]),
                      (ACME, ["0000-0000-0000-0011", "0000-0000-0000-0012"])):
        cnx = sql.connect_mysql(who)
        cur = cnx.cursor()
        cur.execute(q)
        rows = cur.fetchall()
        assert [r[0] for r in rows] == want
        assert rows[0][2] == "AAPL" and rows[1][2] == "MSFT" and 0.1 < rows[0][3] < 0.6
        cnx.close()


def test_history_holds_every_version_in_order(sql):
    for status in ("Active", "Closed"):
        sql.publish("SpdrParentBrkrState", brkr_state("ACME", PARENT, "0000-0000-0000-0001",
                                                      status=status), sent_ts=1_767_600_000_000_000_000)
    cnx = sql.connect_mysql(ACME)
    cur = cnx.cursor()
    cur.execute("select spdrBrokerStatus, hist_ts from srtrade.msgsrparentbrkrstate_hist "
                "order by hist_seq")
    assert cur.fetchall() == [("Active", dt.datetime(2026, 1, 5, 8, 0)),
                              ("Closed", dt.datetime(2026, 1, 5, 8, 0))]
    cur.execute("select spdrBrokerStatus from srtrade.msgsrparentbrkrstate")
    assert cur.fetchall() == [("Closed",)]
    cnx.close()


@pytest.mark.parametrize("bad, errno, words", [
    ("selec noticeNumber from srtrade.msgsrparentbrkrstate", 1064, "syntax"),
    ("select noticeNumber from srtrade.msgsrparentbrkrstat", 1146, "doesn't exist"),
    ("select noSuchColumn from srtrade.msgsrparentbrkrstate", 1054, "nosuchcolumn"),
    ("select noticeNumber from msgsrparentbrkrstate", 1046, "database"),
    ("select * from read_csv('/etc/passwd')", 1235, "table functions"),
    ("select * from srtrade.msgsrparentbrkrstate a join information_schema.tables t on 1=1", 1235,
     "information_schema"),
])
def test_bad_sql_gets_a_clear_error_and_the_connection_goes_on(sql, bad, errno, words, caplog):
    caplog.set_level("DEBUG")
    cnx = sql.connect_mysql(DEV)
    cur = cnx.cursor()
    with pytest.raises(mysql.connector.Error) as e:
        cur.execute(bad)
        cur.fetchall()
    assert e.value.errno == errno
    assert words in e.value.msg.lower()
    cur.execute("select count(*) from srtrade.msgsrparentbrkrstate")
    assert cur.fetchall() == [(0,)]
    cnx.close()
    # the client's mistake is answered to the client, not logged as a server error
    assert [r.getMessage() for r in caplog.records if r.levelno >= 40] == []
    assert any("client error" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("write", [
    "insert into srtrade.msgsrparentorder (accnt) values ('x')",
    "update srtrade.msgsrparentbrkrstate set noticeNumber = '1'",
    "delete from srtrade.msgsrparentbrkrstate",
    "replace into srtrade.msgsrparentorder values (1)",
    "create table srtrade.t (a int)",
    "drop table srtrade.msgsrparentorder",
    "alter table srtrade.msgsrparentorder add column x int",
    "truncate table srtrade.msgsrparentorder",
    "/* hi */ load data infile '/etc/passwd' into table srtrade.msgsrparentorder",
    "select 1; delete from srtrade.msgsrparentbrkrstate",
])
def test_writes_are_refused_and_name_postmsgs(sql, write):
    sql.publish("SpdrParentBrkrState", brkr_state("ACME", PARENT, "0000-0000-0000-0001"))
    cnx = sql.connect_pymysql(DEV)
    with cnx.cursor() as cur:
        with pytest.raises(pymysql.MySQLError) as e:
            cur.execute(write)
        assert e.value.args[0] == 1290
        assert "postmsgs" in e.value.args[1]
    with cnx.cursor() as cur:
        cur.execute("select count(*) from srtrade.msgsrparentbrkrstate")
        assert cur.fetchall() == ((1,),)
    cnx.close()


def test_row_cap(tmp_path):
    from openmlink.srse.sql import EngineLimits
    h = SqlHarness(tmp_path, EngineLimits(row_cap=1000))
    try:
        _quotes(h)
        cnx = h.connect_mysql(DEV)
        cur = cnx.cursor()
        with pytest.raises(mysql.connector.Error) as e:
            cur.execute("select okey_tk from sranalytics.msgliveimpliedquote")
            cur.fetchall()
        assert e.value.errno == 1105 and "row cap" in e.value.msg and "1000" in e.value.msg
        cur.execute("select okey_tk from sranalytics.msgliveimpliedquote limit 1000")
        assert len(cur.fetchall()) == 1000
        cur.execute("select count(*) from sranalytics.msgliveimpliedquote")
        assert cur.fetchall() == [(4000,)]
        cnx.close()
    finally:
        h.close()


def test_time_cap_stops_a_query_and_others_are_served_meanwhile(tmp_path):
    from openmlink.srse.sql import EngineLimits
    h = SqlHarness(tmp_path, EngineLimits(time_cap_s=1.5, workers=2))
    try:
        _quotes(h, 3000)
        slow = ("select count(*) from sranalytics.msgliveimpliedquote a, "
                "sranalytics.msgliveimpliedquote b, sranalytics.msgliveimpliedquote c "
                "where sin(a.oBid * b.oAsk + c.oBid) > 2")  # 27e9 rows, nothing to prune
        err: list[BaseException] = []

        def run_slow() -> None:
            cnx = h.connect_mysql(DEV)
            try:
                cur = cnx.cursor()
                cur.execute(slow)
                err.append(AssertionError(f"no time cap: {cur.fetchall()}"))
            except mysql.connector.Error as e:
                err.append(e)
            finally:
                cnx.close()

        t = threading.Thread(target=run_slow)
        t.start()
        other = h.connect_pymysql(ACME)
        with other.cursor() as cur:  # served while the slow one runs
            cur.execute("select count(*) from sranalytics.msgliveimpliedquote where okey_tk='SPY'")
            assert cur.fetchall() == ((750,),)
        t.join(60)
        assert not t.is_alive()
        assert len(err) == 1 and err[0].errno == 3024  # type: ignore[attr-defined]
        assert "time cap" in err[0].msg  # type: ignore[attr-defined]
        with other.cursor() as cur:
            cur.execute("select count(*) from sranalytics.msgliveimpliedquote")
            assert cur.fetchall() == ((3000,),)
        other.close()
    finally:
        h.close()


def test_client_leaving_mid_result_costs_nothing(sql):
    _quotes(sql, 60_000)
    cnx = sql.connect_pymysql(DEV, cursorclass=pymysql.cursors.SSCursor)
    cur = cnx.cursor()
    cur.execute("select * from sranalytics.msgliveimpliedquote")
    assert len(cur.fetchmany(10)) == 10
    cur._result.unbuffered_active = False  # the client will not read the rest ...
    cnx._rfile.close()  # ... it is gone without a word, most of the result unread
    cnx._sock.close()
    cnx._sock = cnx._rfile = None
    import time
    deadline = time.time() + 20
    while sql.call(lambda: len(sql.server._connections.open)) and time.time() < deadline:
        time.sleep(0.05)
    assert sql.call(lambda: len(sql.server._connections.open)) == 0
    other = sql.connect_mysql(DEV)
    cur2 = other.cursor()
    cur2.execute("select count(*) from sranalytics.msgliveimpliedquote")
    assert cur2.fetchall() == [(60_000,)]
    other.close()


def test_log_in_needs_a_key_of_that_user(sql):
    with pytest.raises(mysql.connector.Error) as e:
        mysql.connector.connect(host="127.0.0.1", port=sql.port, user="ann", password=DEV.key)
    assert e.value.errno == 1045
    with pytest.raises(pymysql.MySQLError) as e2:
        pymysql.connect(host="127.0.0.1", port=sql.port, user="nobody", password="x")
    assert e2.value.args[0] == 1045


def test_prepared_statements_use_the_binary_protocol(sql):
    sql.publish("SpdrParentBrkrState", brkr_state("ACME", PARENT, "0000-0000-0000-0001"))
    cnx = sql.connect_mysql(DEV)
    cur = cnx.cursor(prepared=True)
    cur.execute("select noticeNumber, orderSize, updateDttm, secKey_dt, secKey_xx "
                "from srtrade.msgsrparentbrkrstate where parentNumber = %s", (PARENT,))
    assert cur.fetchall() == [("0000-0000-0000-0001", 10, dt.datetime(2026, 1, 5, 15, 30, 0, 123456),
                               dt.date(2026, 1, 16), 200.0)]
    cnx.close()


def test_pandas_read_sql(sql):
    import warnings

    import pandas as pd
    _quotes(sql, 2000)
    cnx = sql.connect_mysql(DEV)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pandas prefers SQLAlchemy connectables
        df = pd.read_sql("select okey_tk, okey_xx, oBidIv from sranalytics.msgliveimpliedquote "
                         "where okey_tk = 'QQQ'", cnx)
    assert len(df) == 500 and list(df.columns) == ["okey_tk", "okey_xx", "oBidIv"]
    assert set(df.okey_tk) == {"QQQ"} and df.oBidIv.between(0.1, 0.6).all()
    cnx.close()
