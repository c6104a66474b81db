"""A firm's key never reads another firm's rows, whatever the SQL; a type outside a key's
tokens is no table for it."""

from __future__ import annotations

import mysql.connector
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.srse.sql.conftest import brkr_state, execution, okey
from tests.support.sql import ACME, ACME_MD, DEV, ZETA, SqlHarness

LEAKS = [
    "select clientFirm from srtrade.msgsrparentexecution",
    "select clientFirm from srtrade.msgsrparentexecution where clientFirm = 'ZETA'",
    "select clientFirm from srtrade.msgsrparentexecution_hist",
    "select b.clientFirm from srtrade.msgsrparentexecution e "
    "join srtrade.msgsrparentbrkrstate b on e.parentNumber = b.parentNumber",
    "select clientFirm from srtrade.msgsrparentbrkrstate union all "
    "select clientFirm from srtrade.msgsrparentexecution",
    "select x.clientFirm from (select * from srtrade.msgsrparentbrkrstate) x",
    "with t as (select clientFirm from srtrade.msgsrparentbrkrstate_hist) select * from t",
    "select clientFirm from srtrade.msgsrparentbrkrstate where parentNumber in "
    "(select parentNumber from srtrade.msgsrparentexecution)",
]


def _trade(sql: SqlHarness, firms: list[str]) -> None:
    for i, firm in enumerate(firms):
        parent = f"0000-0000-0001-{i:04X}"
        sql.publish("SpdrParentBrkrState", brkr_state(firm, parent, f"0000-0000-0002-{i:04X}",
                                                      accnt=f"A{i}", key=okey(xx=100.0 + i)))
        sql.publish("SpdrParentExecution", execution(firm, f"0000-0000-0003-{i:04X}", parent))


@pytest.mark.parametrize("query", LEAKS)
def test_no_query_reads_another_firms_rows(sql, query):
    _trade(sql, ["ACME", "ZETA", "ACME", "ZETA", "OTHER"])
    for who, firms in ((ACME, {"ACME"}), (ZETA, {"ZETA"}), (DEV, {"ACME", "ZETA", "OTHER"})):
        cnx = sql.connect_mysql(who)
        cur = cnx.cursor()
        cur.execute(query)
        got = {r[0] for r in cur.fetchall()}
        cnx.close()
        want = firms & {"ZETA"} if "= 'ZETA'" in query else firms
        assert got == want, (who.user_name, query)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(firms=st.lists(st.sampled_from(["ACME", "ZETA", "OTHER"]), min_size=1, max_size=12))
def test_each_firm_counts_only_its_own_fills(tmp_path_factory, firms):
    sql = SqlHarness(tmp_path_factory.mktemp("vis"))
    try:
        _trade(sql, firms)
        for who in (ACME, ZETA):
            cnx = sql.connect_mysql(who)
            cur = cnx.cursor()
            cur.execute("select count(*), count(distinct clientFirm) from srtrade.msgsrparentexecution")
            n, distinct = cur.fetchall()[0]
            assert n == firms.count(who.client_firm)
            assert distinct == (1 if n else 0)
            cnx.close()
    finally:
        sql.close()


def test_types_outside_the_keys_tokens_are_no_tables(sql):
    _trade(sql, ["ACME"])
    cnx = sql.connect_mysql(ACME_MD)  # same user name as ACME, a key for OptAnalytics only
    cur = cnx.cursor()
    cur.execute("show databases")
    dbs = {r[0] for r in cur.fetchall()}
    assert "sranalytics" in dbs and "srtrade" not in dbs
    cur.execute("show tables from sranalytics")
    assert {r[0] for r in cur.fetchall()} == {"msgliveimpliedquote", "msgliveimpliedquoteadj"}
    with pytest.raises(mysql.connector.Error) as e:
        cur.execute("select count(*) from srtrade.msgsrparentbrkrstate")
    assert e.value.errno == 1146
    cnx.close()
