"""The SQL layout of message types: naming rule, flattened keys, and the two Arrow builders
(live store rows, history records) agreeing value for value."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.schema import OptionKey, registry
from openmlink.srse.sql import DEFAULT_DATABASE, columns_of, database_of, table_name_of
from openmlink.srse.sql._arrow import VocabCache, live_table, records_table
from openmlink.store import Table

REG = registry()


def test_naming_rule():
    assert (database_of(REG["SpdrParentBrkrState"]), table_name_of(REG["SpdrParentBrkrState"])) == \
        ("srtrade", "msgsrparentbrkrstate")
    assert (database_of(REG["LiveImpliedQuote"]), table_name_of(REG["LiveImpliedQuote"])) == \
        ("sranalytics", "msgliveimpliedquote")
    assert database_of(REG["OptionTheoVol"]) == "srtheo"  # product marked "(inferred)"
    assert database_of(REG["TickerDefinition"]) == DEFAULT_DATABASE
    names = [(database_of(mt), table_name_of(mt)) for mt in REG]
    assert len(set(names)) == len(names)


def test_keys_flatten_and_column_names_are_unique():
    for mt in REG:
        cols = columns_of(mt)
        assert len({c.name.lower() for c in cols}) == len(cols), mt.name
    names = [c.name for c in columns_of(REG["LiveImpliedQuote"])]
    assert names[:9] == ["okey_at", "okey_ts", "okey_tk", "okey_dt", "okey_xx", "okey_cp",
                         "ticker_at", "ticker_ts", "ticker_tk"]
    types = {c.name: c.sql_type for c in columns_of(REG["SpdrParentExecution"])}
    assert types["fillNumber"] == "varchar(19)" and types["fillDttm"] == "datetime(6)"
    assert types["fillQuantity"] == "bigint" and types["fillPrice"] == "double"


MT = REG["SpdrParentBrkrState"]
_ENUM = {f.name: f.enum.names for f in MT.fields if f.kind == "enum"}  # type: ignore[union-attr]


@st.composite
def brkr_states(draw: st.DrawFn) -> dict:
    rec: dict = {}
    for f in MT.fields:
        if f.kind == "Repeater" or (not f.is_pkey and draw(st.booleans())):
            continue  # non-key fields sometimes absent: the default applies
        if f.kind == "OptionKey":
            rec[f.name] = OptionKey("EQT", "NMS", draw(st.sampled_from(["AAPL", "SPY", "QQQ"])),
                                    draw(st.sampled_from(["2026-01-16", "2026-03-20"])),
                                    draw(st.sampled_from([50.0, 100.5, 200.0])),
                                    draw(st.sampled_from(["Call", "Put"])))
        elif f.kind == "TickerKey":
            continue
        elif f.kind == "enum":
            rec[f.name] = draw(st.integers(0, len(_ENUM[f.name]) - 1))
        elif f.kind == "string":
            rec[f.name] = draw(st.text("ABCxyz-_ é", max_size=6))
        elif f.kind == "int":
            rec[f.name] = draw(st.integers(-(2**40), 2**40))
        elif f.kind == "float":
            rec[f.name] = draw(st.one_of(st.floats(-1e6, 1e6), st.just(math.nan)))
        elif f.kind == "DateTime":
            rec[f.name] = draw(st.sampled_from([0, 1_767_600_000_123_456_000]))
    return rec


def _plain(t: pa.Table) -> list[dict]:
    cols = {}
    for name, col in zip(t.column_names, t.columns, strict=True):
        cols[name] = col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col
    return pa.table(cols).to_pylist()


@settings(max_examples=40, deadline=None)
@given(recs=st.lists(brkr_states(), min_size=1, max_size=6))
def test_live_rows_and_history_records_give_the_same_sql_rows(recs):
    t = Table(MT)
    for r in recs:
        t.upsert(r, merge=False)
    stored = [t.record(int(r)) for r in t.live_rows()]
    cols = columns_of(MT)
    live = _plain(live_table(t, cols, None, VocabCache()))
    hist = _plain(records_table(MT, stored, cols))
    assert live == hist
    for row, rec in zip(live, stored, strict=True):
        hexa = f"{rec['parentNumber'] & 0xFFFFFFFFFFFFFFFF:016X}"
        assert row["parentNumber"] == "-".join(hexa[i:i + 4] for i in (0, 4, 8, 12))
        assert row["spdrBrokerStatus"] == _ENUM["spdrBrokerStatus"][rec["spdrBrokerStatus"]]
        assert row["secKey_tk"] == rec["secKey"].tk and row["secKey_xx"] == rec["secKey"].xx
        assert row["secKey_dt"].isoformat() == rec["secKey"].dt
        assert (row["updateDttm"] is None) == (rec["updateDttm"] == 0)
        assert (row["uPrc"] is None) == bool(np.isnan(rec["uPrc"]))


def test_a_live_view_skips_deleted_rows_and_takes_a_firms_rows():
    t = Table(MT)
    base = {"secKey": OptionKey("EQT", "NMS", "AAPL", "2026-01-16", 50.0, "Call")}
    for i, firm in enumerate(["ACME", "ZETA", "ACME"]):
        t.upsert({**base, "accnt": f"A{i}", "clientFirm": firm})
    t.delete(next(pk for pk in t.index if pk[0] == "A0"))
    cols = [c for c in columns_of(MT) if c.name in ("accnt", "clientFirm")]
    assert _plain(live_table(t, cols, None, VocabCache())) == [
        {"accnt": "A1", "clientFirm": "ZETA"}, {"accnt": "A2", "clientFirm": "ACME"}]
