"""Statement checks before the engine: writes refused whatever their spelling, tables resolved
and renamed, referenced columns collected."""

from __future__ import annotations

import pytest
import sqlglot
from hypothesis import given
from hypothesis import strategies as st

from openmlink.schema import registry
from openmlink.srse.sql import Source
from openmlink.srse.sql._errors import SqlError
from openmlink.srse.sql._statement import WRITE_WORDS, is_write_text, plan

REG = registry()
BRKR = Source("srtrade", "msgsrparentbrkrstate", REG["SpdrParentBrkrState"], False)


def _resolve(db: str, name: str) -> Source | None:
    return BRKR if (db.lower(), name.lower()) == ("srtrade", "msgsrparentbrkrstate") else None


_space = st.sampled_from([" ", "\n", "\t", "/* c */", "-- c\n", "# c\n", "("])


@given(lead=st.lists(_space, max_size=4), word=st.sampled_from(sorted(WRITE_WORDS)),
       upper=st.booleans(), rest=st.text(max_size=20))
def test_every_write_keyword_is_refused_whatever_comes_before(lead, word, upper, rest):
    sql = "".join(lead) + (word.upper() if upper else word) + " " + rest
    assert is_write_text(sql)


@given(lead=st.lists(_space, max_size=4), rest=st.text(max_size=20))
def test_selects_and_shows_are_not_writes(lead, rest):
    for word in ("select", "SHOW", "describe", "with", "use", "explain"):
        assert not is_write_text("".join(lead) + word + " " + rest)


def test_tables_are_renamed_keeping_aliases_and_columns_collected():
    e = sqlglot.parse_one("select b.noticeNumber, srtrade.msgsrparentbrkrstate.accnt "
                          "from srtrade.msgsrparentbrkrstate join msgsrparentbrkrstate b "
                          "on b.parentNumber = msgsrparentbrkrstate.parentNumber", read="mysql")
    p = plan(e, "srtrade", _resolve)
    assert len(p.tables) == 1  # one view, registered once, used twice
    use = p.tables[0]
    assert use.view.startswith("__v0_") and use.source is BRKR
    assert {"noticenumber", "accnt", "parentnumber"} <= use.names
    assert '"srtrade"' not in p.sql and "srtrade." not in p.sql
    assert f"{use.view} AS msgsrparentbrkrstate" in p.sql and f"{use.view} AS b" in p.sql


def test_star_wants_every_column_but_count_star_does_not():
    star = plan(sqlglot.parse_one("select * from srtrade.msgsrparentbrkrstate", read="mysql"),
                None, _resolve)
    count = plan(sqlglot.parse_one("select count(*) from srtrade.msgsrparentbrkrstate", read="mysql"),
                 None, _resolve)
    assert star.tables[0].names is None
    assert count.tables[0].names is not None


@pytest.mark.parametrize("sql, code", [
    ("select * from srtrade.nothere", 1146),
    ("select * from msgsrparentbrkrstate", 1046),
    ("select * from generate_series(1, 3)", 1235),
    ("update srtrade.msgsrparentbrkrstate set accnt = 'x'", 1290),
])
def test_refusals(sql, code):
    with pytest.raises(SqlError) as e:
        plan(sqlglot.parse_one(sql, read="mysql"), None, _resolve)
    assert e.value.code == code


def test_a_cte_named_like_a_table_is_not_resolved():
    p = plan(sqlglot.parse_one("with nothere as (select 1 as x) select x from nothere", read="mysql"),
             "srtrade", _resolve)
    assert p.tables == ()
