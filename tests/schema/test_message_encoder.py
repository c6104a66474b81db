"""``message_encoder(mt)`` gives the body ``encode_message(mt, rec)`` gives, key for key and in
the same order, for any record of any type: defaults, NaN/inf, out-of-range enums, ID-style
longs, keys and repeating groups included -- on the generic walk and on the code compiled for
a record shape."""

from __future__ import annotations

import math

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.schema import (
    DATEKEY_NONE,
    ExpiryKey,
    Field,
    OptionKey,
    TickerKey,
    encode_message,
    message_encoder,
    registry,
)
from openmlink.schema._encoder import COMPILE_AFTER, compile_shape

REG = registry()
TYPES = sorted(m.name for m in REG.types)


def _value(f: Field) -> st.SearchStrategy:
    k = f.kind
    if k == "float":
        return st.sampled_from([0.0, math.nan, math.inf, -math.inf, 1e-50]) | st.floats(
            allow_nan=False, allow_infinity=False, width=64)
    if k == "int":
        return st.integers(-(2**62), 2**62) | st.just(0)
    if k == "enum":
        return st.integers(-2, len(f.enum.names) + 2) if f.enum is not None else st.just(0)
    if k == "flag":
        return st.integers(0, 255)
    if k == "string":
        return st.text(max_size=6)
    if k == "DateTime":
        return st.integers(0, 2**62) | st.just(0)
    if k == "DateKey":
        return st.just(DATEKEY_NONE) | st.integers(0, 40_000)  # days since 1970
    if k == "TickerKey":
        return st.just(TickerKey("EQT", "NMS", "AAPL"))
    if k == "ExpiryKey":
        return st.just(ExpiryKey("EQT", "NMS", "AAPL", "2025-07-18"))
    if k == "OptionKey":
        return st.sampled_from([180.0, 182.5]).map(
            lambda x: OptionKey("EQT", "NMS", "AAPL", "2025-07-18", x, "Put"))
    if k == "Repeater":
        return st.just([])
    return st.none()


@st.composite
def _records(draw: st.DrawFn) -> tuple[str, dict]:
    name = draw(st.sampled_from(TYPES))
    mt = REG[name]
    fields = draw(st.lists(st.sampled_from(mt.fields), unique_by=lambda f: f.name, max_size=40)) \
        if mt.fields else []
    rec = {f.name: draw(st.none() | _value(f)) for f in fields}
    return name, rec


@settings(max_examples=300, deadline=None)
@given(_records())
def test_same_body_as_encode_message(case: tuple[str, dict]) -> None:
    name, rec = case
    mt = REG[name]
    assert orjson.dumps(message_encoder(mt)(rec)) == orjson.dumps(encode_message(mt, rec))


def test_a_whole_default_record_and_one_with_every_field() -> None:
    mt = REG["SpdrParentBrkrState"]
    enc = message_encoder(mt)
    blank = {f.name: f.default for f in mt.fields}
    assert enc(blank) == encode_message(mt, blank)
    full = {f.name: (1.25 if f.kind == "float" else 1 if f.kind in ("int", "enum", "flag")
                     else "x" if f.kind == "string" else f.default) for f in mt.fields}
    body = enc(full)
    assert body == encode_message(mt, full) and body["cumFillQuantity"] == 1
    assert enc is message_encoder(mt)  # compiled once per type


@settings(max_examples=300, deadline=None)
@given(_records())
def test_the_code_compiled_for_a_shape_gives_the_same_body(case: tuple[str, dict]) -> None:
    name, rec = case
    mt = REG[name]
    rec = {**rec, "notAField": 1.5}  # a name the type does not have is ignored, as generic
    want = orjson.dumps(encode_message(mt, rec))
    assert orjson.dumps(compile_shape(mt, tuple(rec))(rec)) == want


@settings(max_examples=200, deadline=None)
@given(_records(), st.data())
def test_a_view_is_encoded_as_encode_message_encodes_it(case: tuple[str, dict],
                                                       data: st.DataObject) -> None:
    """With a view (MLinkStream/getmsgs ``view``): the pkey whole, other fields only if named;
    generic walk and compiled shape alike."""
    name, rec = case
    mt = REG[name]
    view = frozenset(data.draw(st.lists(st.sampled_from([f.name for f in mt.fields] + ["x"]),
                                        max_size=12))) if mt.fields else frozenset()
    want = orjson.dumps(encode_message(mt, rec, view))
    assert orjson.dumps(message_encoder(mt, view)(rec)) == want
    assert orjson.dumps(compile_shape(mt, tuple(rec), view)(rec)) == want


@settings(max_examples=100, deadline=None)
@given(_records(), st.data())
def test_a_repeated_shape_takes_its_compiled_code_with_any_values(case: tuple[str, dict],
                                                                   data: st.DataObject) -> None:
    """Past the warm-up a shape is encoded by its compiled function, whatever the values."""
    name, rec = case
    mt = REG[name]
    enc = message_encoder(mt)
    by_name = {f.name: f for f in mt.fields}
    for _ in range(COMPILE_AFTER + 2):
        rec = {k: data.draw(st.none() | _value(by_name[k])) for k in rec}
        assert orjson.dumps(enc(rec)) == orjson.dumps(encode_message(mt, rec))


def test_a_broker_state_shape_is_compiled_after_its_warm_up() -> None:
    mt = REG["SpdrParentBrkrState"]
    enc = message_encoder(mt)
    rec = {"accnt": "A", "parentNumber": 7, "cumFillQuantity": 3, "avgFillPrice": 4.2,
           "spdrBrokerStatus": 2, "updateDttm": 1_700_000_000_000_000_000, "cpx1": 0.0}
    for i in range(COMPILE_AFTER + 1):
        assert (tuple(rec) in enc.shapes) == (i >= COMPILE_AFTER)
        rec["cumFillQuantity"] = i
        assert enc(rec) == encode_message(mt, rec)
    assert enc.shapes[tuple(rec)].__code__.co_filename == "<encoder SpdrParentBrkrState>"
    assert enc(rec)["cumFillQuantity"] == COMPILE_AFTER and "cpx1" not in enc(rec)


def test_compiled_code_stays_bounded_and_compiles_again_after_a_drop() -> None:
    """Clients choose views: the code compiled over all encoders is bounded (reaching the
    bound drops it all, and shapes compile again when they come back)."""
    from openmlink.schema import _encoder

    mt = REG["SpdrParentBrkrState"]
    names = [f.name for f in mt.fields if not f.is_pkey]
    before = _encoder._COMPILED_MAX
    _encoder._COMPILED_MAX = 5
    try:
        rec = {"accnt": "A", "parentNumber": 7, "cumFillQuantity": 3}
        encs = []
        for i in range(12):  # twelve views, each encoding its shape past the warm-up
            enc = message_encoder(mt, frozenset(names[i::12]))
            encs.append(enc)
            for _ in range(COMPILE_AFTER):
                assert enc(rec) == encode_message(mt, rec, frozenset(names[i::12]))
            assert _encoder._compiled[0] <= 5
            assert sum(len(e.shapes) for e in encs) <= 5
        assert tuple(rec) in encs[-1].shapes  # the latest compiled after the drop
    finally:
        _encoder._COMPILED_MAX = before


def test_a_pkey_whose_order_is_not_the_field_order_is_encoded_in_pkey_order() -> None:
    mt = REG["RiskGroupCounter"]
    assert [f.name for f in mt.pkey_fields] != [f.name for f in mt.fields if f.is_pkey]
    rec = {"accnt": "A", "riskFirm": "0", "riskGroupId": 1}
    want = orjson.dumps(encode_message(mt, rec))
    assert orjson.dumps(compile_shape(mt, tuple(rec))(rec)) == want
