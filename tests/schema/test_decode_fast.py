"""``decode_record``'s compiled fast path (exact field names, values already in their plain
form) gives what the general path (``decode_value``) gives: the same record, or the same
refusal.  A message whose names are all upper case takes the general path for every field
(names match case-insensitively), so the two are compared on the same values."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.schema import RecordError, decode_record, registry

REG = registry()
TYPES = ("SpdrParentOrder", "SpdrParentLimit", "OptionNbboQuote", "SpdrParentBrkrState")

_odd = st.one_of(st.none(), st.booleans(), st.just(""), st.just(" "), st.text(max_size=4),
                 st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.lists(st.integers(),
                                                                                  max_size=2))
_keys = st.fixed_dictionaries({
    "at": st.sampled_from(["EQT", "eqt", "IDX", "Nope", 1, True]),
    "ts": st.sampled_from(["NMS", "nms", "XX", 0]),
    "tk": st.sampled_from(["AAPL", "SPX", ""]),
    "dt": st.sampled_from(["2026-06-19", "2026-6-19", "not a date", ""]),
    "xx": st.sampled_from([180, 180.0, 180.5, -1, "180", True, None]),
    "cp": st.sampled_from(["Put", "P", "call", "X", 1]),
})


def _value(f: Any) -> st.SearchStrategy[Any]:
    plain: st.SearchStrategy[Any]
    if f.kind == "float":
        plain = st.one_of(st.floats(allow_nan=True), st.integers(-10**6, 10**6))
    elif f.kind == "int":
        plain = st.integers(-2**64, 2**65)
    elif f.kind == "string":
        plain = st.text(max_size=(f.max_len or 20) + 2)
    elif f.kind == "enum":
        names = list(f.enum.names)
        plain = st.one_of(st.sampled_from(names), st.sampled_from([n.upper() for n in names]),
                          st.integers(-1, len(names)))
    elif f.kind == "DateTime":
        plain = st.one_of(st.integers(0, 2**62), st.just("2026-02-04 19:17:42.439368"))
    elif f.kind in ("TickerKey", "ExpiryKey", "OptionKey"):
        plain = _keys
    else:
        plain = st.just(None)
    return st.one_of(plain, plain, _odd)


@st.composite
def _messages(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(TYPES))
    mt = REG[name]
    chosen = draw(st.lists(st.sampled_from([f for f in mt.fields if f.kind != "Repeater"]),
                           max_size=12, unique_by=lambda f: f.name))
    return name, {f.name: draw(_value(f)) for f in chosen}


def _outcome(name: str, msg: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "ok", decode_record(REG[name], msg)
    except RecordError as e:
        return "refused", e.reason


@settings(max_examples=600, deadline=None)
@given(_messages())
def test_the_fast_path_decodes_as_the_general_one(case: tuple[str, dict[str, Any]]) -> None:
    name, msg = case
    general = _outcome(name, {k.upper(): v for k, v in msg.items()})
    assert _outcome(name, msg) == general
    assert _outcome(name, msg) == general  # again: key objects now come from the memo


def test_an_order_as_the_seed_posts_it() -> None:
    po = REG["SpdrParentOrder"]
    msg = {"secKey": {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": "2026-06-19", "xx": 180,
                      "cp": "Put"}, "accnt": "B", "orderSide": "Buy", "orderSize": 5,
           "orderPrcLimit": 4.8, "spdrActionType": "Add"}
    rec = decode_record(po, msg)
    assert rec["secKey"].xx == 180.0 and rec["secKey"].cp == "Put"
    assert rec["orderSize"] == 5 and rec["orderPrcLimit"] == 4.8 and rec["accnt"] == "B"
    assert po.field("orderSide").enum.names[rec["orderSide"]] == "Buy"  # type: ignore[union-attr]
    assert decode_record(po, msg) == rec
    bad = {**msg, "orderSize": 2**70}
    try:
        decode_record(po, bad)
    except RecordError as e:
        assert e.path == "$.message.orderSize" and "out of range" in e.reason
    else:
        raise AssertionError("an orderSize out of range was accepted")
