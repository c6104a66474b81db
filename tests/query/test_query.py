"""The where language: parser properties, and one table of clauses run through both back ends
(record predicate and column mask) against hand-written expectations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.query import (
    And,
    Cmp,
    Or,
    QueryError,
    WhereError,
    compile_predicate,
    compile_where,
    order_rows,
    parse_order,
    parse_view,
    parse_where,
    to_text,
    where_mask,
)
from openmlink.schema import registry
from openmlink.schema._codec import decode_record
from openmlink.store import Table

REG = registry()
LIQ = REG["LiveImpliedQuote"]
HEDGE = REG["SpdrAutoHedgeState"]


def _opt(tk: str, dt: str, xx: float, cp: str, **f: object) -> dict:
    body = {"pkey": {"okey": {"at": "EQT", "ts": "NMS", "tk": tk, "dt": dt, "xx": xx, "cp": cp}},
            "ticker": f"{tk}-NMS-EQT", **f}
    return decode_record(LIQ, body)


OPTIONS = {
    "A": _opt("SPY", "2025-05-16", 500, "Call", de=0.55, years=0.004, calcSource="Loop",
              timestamp="2025-05-15 14:00:00.000000"),
    "B": _opt("SPY", "2025-05-16", 500, "Put", de=-0.45, years=0.004, calcSource="Tick",
              timestamp="2025-05-15 14:00:01.500000"),
    "C": _opt("SPY", "2025-05-21", 480, "Put", de=-0.20, years=0.02, calcSource="Loop"),
    "D": _opt("SPX", "2024-03-15", 4550, "Call", de=0.41, years=0.5, calcSource="Tick"),
    "E": _opt("AAPL", "2025-07-18", 62.5, "Call", de=0.9, years=0.2, calcSource="Loop"),
}

HEDGES = {
    "h1": decode_record(HEDGE, {"accnt": "T.MTL.VEN", "riskGroupId": "4124-3534-5867-5309",
                                "hedgeSecKey": "SPY-NMS-EQT", "hedgeSecType": "Stock",
                                "clientFirm": "SRCORE", "hedgeText": "working on it",
                                "uPrc": 101.5, "hedgeState": 1}),
    "h2": decode_record(HEDGE, {"accnt": "T.TJ.VEN3", "riskGroupId": 7,
                                "hedgeSecKey": "ES-CME-FUT-2025-06-20", "hedgeSecType": "Future",
                                "clientFirm": "SRCORE", "hedgeText": "done", "uPrc": -3}),
    "h3": decode_record(HEDGE, {"accnt": "ACME", "riskGroupId": 8,
                                "hedgeSecKey": "QQQ-NMS-EQT", "hedgeSecType": "Stock",
                                "clientFirm": "OTHER", "hedgeText": "", "uPrc": 0.25}),
}

# (message type, clause, expected record names)
CASES = [
    (LIQ, "", "ABCDE"),
    (LIQ, "ticker:eq:SPY-NMS-EQT", "ABC"),
    (LIQ, "ticker:ne:SPY-NMS-EQT", "DE"),
    (LIQ, "ticker.tk:eq:AAPL & ticker.at:eq:EQT & ticker.ts:eq:NMS", "E"),
    (LIQ, "okey:eq:SPY-NMS-EQT-2025-05-16", "AB"),
    (LIQ, "okey:eq:SPX-NMS-EQT-2024-03-15-4550-C", "D"),
    (LIQ, "okey:eq:AAPL-NMS-EQT-2025-07-18-62.5-C", "E"),
    (LIQ, "okey:eq:spy-nms-eqt-2025-05-16", ""),  # symbols are case-sensitive
    (LIQ, "okey:eq:SPY-nms-eqt-2025-05-16", "AB"),  # enum members are not
    (LIQ, "okey.tk:eq:SPX & okey.xx:gt:3500 & okey.xx:lt:4500", ""),
    (LIQ, "okey.tk:eq:SPX & okey.xx:gt:3500 & okey.xx:lt:4600", "D"),
    (LIQ, "okey.cp:eq:P", "BC"),
    (LIQ, "okey.cp:eq:Put", "BC"),
    (LIQ, "okey.dt:ge:2025-05-16 & okey.dt:le:2025-05-21", "ABC"),
    (LIQ, "okey.dt:cb:2025-05-17$2025-12-31", "CE"),
    (LIQ, "de:cb:0.40$0.60", "AD"),
    (LIQ, "de:cb:0.40#0.60", "AD"),
    (LIQ, "ticker:eq:SPY-NMS-EQT & ((de:cb:-0.60$-0.40) | (de:cb:0.40$0.60)) & years:lt:.006", "AB"),
    (LIQ, "okey:eq:SPY-NMS-EQT-2025-05-16 & ((de:ge:-0.60 & de:le:-0.40) | (de:ge:0.40 & de:le:0.60))",
     "AB"),
    (LIQ, "okey:eq:SPY-NMS-EQT-2025-05-16%26de:gt:0", "A"),
    (LIQ, "de:gt:0.41", "AE"),
    (LIQ, "de:ge:0.41", "ADE"),
    (LIQ, "de:lt:-0.2", "B"),
    (LIQ, "de:le:-0.2", "BC"),
    (LIQ, "DE:EQ:0.9", "E"),  # field names and operators are case-insensitive
    (LIQ, "calcSource:eq:loop", "ACE"),
    (LIQ, "calcSource:ne:LOOP", "BD"),
    (LIQ, "calcSource:sw:Ti", "BD"),
    (LIQ, "calcSource:cv:oo", "ACE"),
    (LIQ, "calcSource:nv:oo", "BD"),
    (LIQ, "calcSource:ew:k", "BD"),
    (LIQ, "timestamp:gt:2025-05-15 14:00:00", "B"),
    (LIQ, "timestamp:cb:2025-05-15$2025-05-16", "AB"),
    (LIQ, "okey:sw:SPY-NMS-EQT-2025-05", "ABC"),
    (LIQ, "okey:ew:-P", "BC"),
    (LIQ, "okey:cv:-4550-", "D"),
    (LIQ, "okey:nv:SPY", "DE"),
    (LIQ, "okey:gt:SPY-NMS-EQT-2025-05-16", "C"),
    (LIQ, "okey:ge:SPY-NMS-EQT-2025-05-16", "ABC"),
    (LIQ, "okey:lt:SPX-NMS-EQT", "E"),
    (LIQ, "okey:le:SPX-NMS-EQT", "DE"),
    (LIQ, "okey:cb:SPX-NMS-EQT$SPY-NMS-EQT-2025-05-16", "ABD"),
    (LIQ, "pkey.okey.xx:eq:480", "C"),
    (LIQ, "de:gt:0.5 | de:lt:-0.3 & okey.cp:eq:P", "ABE"),  # & binds tighter than |
    (LIQ, "(de:gt:0.5 | de:lt:-0.3) & okey.cp:eq:P", "B"),
    (HEDGE, "accnt:eq:T.MTL.VEN", "h1"),
    (HEDGE, "accnt:sw:T.", "h1 h2"),
    (HEDGE, "accnt:ew:VEN3", "h2"),
    (HEDGE, "accnt:cv:.VEN", "h1 h2"),
    (HEDGE, "accnt:nv:.VEN", "h3"),
    (HEDGE, "accnt:gt:B", "h1 h2"),
    (HEDGE, "accnt:le:ACME", "h3"),
    (HEDGE, "accnt:cb:A$T.N", "h1 h3"),
    (HEDGE, "hedgeText:eq:", "h3"),
    (HEDGE, "riskGroupId:eq:4124-3534-5867-5309", "h1"),
    (HEDGE, "riskGroupId:eq:7", "h2"),
    (HEDGE, "hedgeSecType:eq:FUTURE", "h2"),
    (HEDGE, "hedgeSecType:eq:1", "h1 h3"),  # enum ordinal
    (HEDGE, "hedgeSecKey:eq:ES-CME-FUT-2025-06-20", "h2"),
    (HEDGE, "hedgeSecKey:eq:ES-CME-FUT", "h2"),
    (HEDGE, "hedgeSecKey.dt:eq:2025-06-20", "h2"),
    (HEDGE, "uPrc:lt:0", "h2"),
    (HEDGE, "uPrc:ne:0.25", "h1 h2"),
    (HEDGE, "clientFirm:eq:SRCORE & (uPrc:gt:100 | uPrc:lt:-1)", "h1 h2"),
]


def _table(mt, recs: dict) -> tuple[Table, list[str]]:
    t = Table(mt)
    names = []
    for name, rec in recs.items():
        t.upsert(rec)
        names.append(name)
    return t, names


@pytest.mark.parametrize(("mt", "clause", "expected"), CASES, ids=[c[1] or "<empty>" for c in CASES])
def test_record_predicate_and_column_mask_agree_with_expectation(mt, clause, expected):
    recs = OPTIONS if mt is LIQ else HEDGES
    want = set(expected.split()) if " " in expected or mt is HEDGE else set(expected)
    bound = compile_where(mt, clause)
    pred = compile_predicate(mt, bound)
    by_pred = {n for n, r in recs.items() if pred(r)}
    t, names = _table(mt, recs)
    mask = where_mask(t, bound)
    by_mask = {names[i] for i in np.flatnonzero(mask)}
    # the stored (round-tripped) records must give the same answer too
    by_stored = {names[i] for i in range(len(names)) if pred(t.record(i))}
    assert by_pred == want
    assert by_mask == want
    assert by_stored == want
    # evaluating on a subset of rows gives the subset's answer
    rows = np.array([0, 2, 4])[: len(names) - 1] if len(names) < 5 else np.array([0, 2, 4])
    sub = where_mask(t, bound, rows)
    assert {names[r] for r, ok in zip(rows, sub, strict=True) if ok} == want & {names[r] for r in rows}


@pytest.mark.parametrize(
    ("clause", "pos", "words"),
    [
        ("(de:gt:1", 8, "unbalanced"),
        ("de:gt:1)", 7, "unbalanced"),
        ("de:xx:1", 3, "unknown operator 'xx'"),
        ("de:gt", 5, "expected ':' after operator"),
        ("de", 2, "expected ':'"),
        (" & de:gt:1", 1, "expected a field name"),
        ("de:gt:1 &", 9, "end of text"),
        ("de:cb:1", 6, "two bounds"),
        ("de:cb:1$", 6, "non-empty"),
        ("de:eq:a(b", 7, "'('"),
        ("(" * 70 + "de:eq:1" + ")" * 70, 64, "nested deeper"),
    ],
)
def test_malformed_where_names_position_and_problem(clause, pos, words):
    with pytest.raises(WhereError) as ei:
        parse_where(clause)
    assert ei.value.pos == pos
    assert words in str(ei.value)


@pytest.mark.parametrize(
    ("clause", "words"),
    [
        ("nosuch:eq:1", "unknown field 'nosuch'"),
        ("de:eq:abc", "'abc' is not a number"),
        ("calcSource:eq:Sometimes", "not a value of CalcSource"),
        ("okey:eq:SPY-XXX-EQT", "not a security key"),
        ("ticker:eq:SPY-NMS-EQT-2025-05-16", "more parts than a TickerKey"),
        ("okey.zz:eq:1", "no member 'zz'"),
        ("de:sw:1", "applies to text fields"),
        ("okey.dt:eq:2025-13-01", "not a valid date"),
        ("timestamp:gt:yesterday", "not a DateTime"),
    ],
)
def test_where_that_does_not_fit_the_type_is_a_clear_error(clause, words):
    with pytest.raises(QueryError) as ei:
        compile_where(LIQ, clause)
    assert words in str(ei.value)


# ---------------------------------------------------------------- parser properties
_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ_0123456789", min_size=1, max_size=8)
_value = st.text(alphabet="abcXYZ0123456789.-_:+ ", max_size=10).map(str.strip)
_op = st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le", "sw", "ew", "cv", "nv"])


@st.composite
def _cmp(draw):
    path = tuple(draw(st.lists(_name, min_size=1, max_size=3)))
    if draw(st.booleans()):
        lo = draw(_value.filter(lambda s: s != "" and "$" not in s))
        hi = draw(_value.filter(lambda s: s != ""))
        return Cmp(path, "cb", lo, hi)
    return Cmp(path, draw(_op), draw(_value))


_tree = st.recursive(
    _cmp(),
    lambda kids: st.one_of(
        st.lists(kids, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(kids, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
    ),
    max_leaves=8,
)


def _normal(node):
    """Flatten nested same-kind nodes, as the parser does."""
    if isinstance(node, Cmp):
        return node
    items = []
    for n in node.items:
        n = _normal(n)
        if type(n) is type(node):
            items.extend(n.items)
        else:
            items.append(n)
    return type(node)(tuple(items))


@settings(max_examples=300, deadline=None)
@given(_tree)
def test_printing_and_reparsing_a_tree_is_stable(tree):
    text = to_text(tree)
    parsed = parse_where(text)
    assert parsed == _normal(tree)
    assert to_text(parsed) == to_text(_normal(tree))


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet="()&|%26:$#. abxeqgtcbvn-019", max_size=40))
def test_no_input_crashes_the_parser(text):
    try:
        node = parse_where(text)
    except WhereError as e:
        assert 0 <= e.pos <= len(text)
        return
    if node is not None:
        assert parse_where(to_text(node)) == node


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_no_input_crashes_the_binder(text):
    try:
        compile_where(LIQ, text)
    except (WhereError, QueryError):
        pass


# ---------------------------------------------------------------- view and order
def test_view_is_case_insensitive_accepts_commas_and_rejects_unknown_fields():
    assert parse_view(REG["StockBookQuote"], "ticker|bidprice1|askprice1") == frozenset(
        {"ticker", "bidPrice1", "askPrice1"})
    assert parse_view(LIQ, "de, ga") == frozenset({"de", "ga"})
    assert parse_view(LIQ, "") is None
    with pytest.raises(QueryError, match="view: unknown field 'nope'"):
        parse_view(LIQ, "de|nope")


def test_order_sorts_by_terms_left_to_right_with_abs_and_desc():
    t, names = _table(LIQ, OPTIONS)
    rows = t.live_rows()

    def order(text):
        return "".join(names[r] for r in order_rows(t, LIQ, rows, parse_order(LIQ, text)))

    assert order("de:ASC") == "BCDAE"
    assert order("de:DESC") == "EADCB"
    assert order("de:ASC:ABS") == "CDBAE"
    assert order("(calcSource:ASC | de:DESC)") == "DBEAC"  # Tick < Loop by ordinal
    assert order("ticker:ASC|de:ASC") == "EDBCA"
    assert order("okey:DESC") == "CBADE"
    with pytest.raises(QueryError, match="not ASC or DESC"):
        parse_order(LIQ, "de:UP")


def test_string_vocabularies_stay_bounded_when_values_churn():
    t = Table(HEDGE)
    base = dict(HEDGES["h1"])
    for i in range(30_000):
        base["hedgeText"] = f"update {i}"
        t.upsert(base)
    assert len(t.vocabs["hedgeText"].words) < 5_000
    assert t.record(0)["hedgeText"] == "update 29999"
    bound = compile_where(HEDGE, "hedgeText:eq:update 29999")
    assert where_mask(t, bound).tolist() == [True]
