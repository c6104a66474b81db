"""The registry built from the schema data files, keys and the JSON codec."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import openmlink.bus
import openmlink.query
import openmlink.schema
import openmlink.store
from openmlink.schema import (
    ExpiryKey,
    KeyError_,
    OptionKey,
    TickerKey,
    key_from_json,
    key_to_json,
    parse_any_key,
    parse_key,
    registry,
)
from openmlink.schema._codec import RecordError, decode_record, encode_message
from openmlink.schema._values import (
    datetime_from_text,
    datetime_to_text,
    idlong_from_text,
    idlong_to_text,
)

REG = registry()


def _data_files() -> list[dict]:
    d = resources.files("openmlink.schema").joinpath("data")
    return [json.loads(p.read_text()) for p in d.iterdir()
            if p.name.endswith(".json") and p.name not in ("enums.json", "keys.json")]


@pytest.mark.parametrize("raw", _data_files(), ids=lambda r: r["name"])
def test_every_schema_file_is_registered_with_its_layout(raw):
    mt = REG[raw["name"]]
    assert mt.id == (raw["id"] or 0)
    assert mt.topic == (raw["topic"] or "")
    assert mt.token == (raw["mlinkToken"] or "")
    assert mt.srse_product == (raw["srseProduct"] or "")
    assert mt.pkey == tuple(raw["pkey"])
    assert [f.name for f in mt.fields if f.kind != "Repeater"] == [f["name"] for f in raw["fields"]]
    assert [f.num for f in mt.fields if f.kind != "Repeater"] == [f["num"] for f in raw["fields"]]
    reps = {f.name: f.group for f in mt.fields if f.kind == "Repeater"}
    assert set(reps) == {g["name"] for g in raw["repeated"]}
    for g in raw["repeated"]:
        assert [f.name for f in reps[g["name"]].fields] == [f["name"] for f in g["fields"]]
    for f, rf in zip([f for f in mt.fields if f.kind != "Repeater"], raw["fields"], strict=True):
        assert f.is_pkey == bool(rf["pkey"])
        if rf["type"].startswith(("enum", "flag")):
            assert f.enum is not None and f.enum.name == rf["enum"]
    if raw["id"]:
        assert REG.get(raw["id"]) is mt
        assert REG.get(str(raw["id"])) is mt
    assert REG.get(raw["name"].upper()) is mt


def test_field_types_defaults_and_enums_are_compiled():
    span = REG["SpanRiskCalculator"]
    assert span.field("prcSpanType").default == span.field("prcSpanType").enum.index("Exch")
    assert span.field("adjYears").default == -1.0
    assert span.field("userName").max_len == 24
    assert span.field("USERNAME") is span.field("userName")
    order = REG["SpdrParentOrder"]
    assert order.auto_pkey and order.field("parentNumber").id_long
    assert order.actions == {"Select", "Insert"}
    assert REG["StockBookQuote"].actions == {"Select"}
    assert REG["OptionNbboQuote"].field("bidMktType").kind == "flag"


_sym = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@#_.-", min_size=1, max_size=12).filter(
    lambda s: not s.startswith("-") and not s.endswith("-"))
_at = st.sampled_from(["EQT", "IDX", "FUT", "BND", "SYN"])
_ts = st.sampled_from(["NMS", "CME", "CBOT", "SR", "CFE"])
_dt = st.dates(min_value=__import__("datetime").date(1990, 1, 1),
               max_value=__import__("datetime").date(2099, 12, 31)).map(lambda d: d.isoformat())
_xx = st.one_of(st.integers(0, 100_000).map(float),
                st.decimals(0, 100_000, places=3).map(float),
                st.floats(0, 1e6, allow_nan=False, allow_infinity=False))
_cp = st.sampled_from(["Call", "Put"])
_keys = st.one_of(
    st.builds(TickerKey, _at, _ts, _sym),
    st.builds(ExpiryKey, _at, _ts, _sym, _dt),
    st.builds(OptionKey, _at, _ts, _sym, _dt, _xx, _cp),
)


@settings(max_examples=500, deadline=None)
@given(_keys)
def test_keys_round_trip_through_flat_and_json_forms(key):
    kind = type(key).__name__
    text = str(key)
    assert parse_key(kind, text) == key
    assert parse_any_key(text) == key
    assert str(parse_key(kind, text)) == text
    assert key_from_json(kind, key_to_json(key)) == key
    assert key_from_json(kind, json.loads(json.dumps(key_to_json(key)))) == key


def test_key_string_forms_of_the_spec():
    k = parse_key("OptionKey", "AAPL-NMS-EQT-2025-07-18-200-P")
    assert k == OptionKey("EQT", "NMS", "AAPL", "2025-07-18", 200.0, "Put")
    assert key_to_json(k) == {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": "2025-07-18", "xx": 200,
                              "cp": "Put"}
    assert str(parse_key("OptionKey", "CAKE-NMS-EQT-2026-07-17-62.5-Call")) == \
        "CAKE-NMS-EQT-2026-07-17-62.5-C"
    assert parse_any_key("SPY-NMS-EQT-2025-05-16") == ExpiryKey("EQT", "NMS", "SPY", "2025-05-16")
    assert parse_any_key("@ES-CME-FUT") == TickerKey("FUT", "CME", "@ES")
    assert parse_any_key("BRK-B-NMS-EQT") == TickerKey("EQT", "NMS", "BRK-B")
    assert parse_key("TickerKey", "aapl-nms-eqt") == TickerKey("EQT", "NMS", "aapl")
    for kind, bad, words in [
        ("TickerKey", "AAPL", "is not a TickerKey"),
        ("TickerKey", "AAPL-XX-EQT", "unknown ticker source"),
        ("OptionKey", "AAPL-NMS-EQT-2025-02-30-1-C", "not a valid date"),
        ("OptionKey", "AAPL-NMS-EQT-2025-02-03-x-C", "not a number"),
        ("OptionKey", "AAPL-NMS-EQT-2025-02-03-1-Q", "call/put"),
    ]:
        with pytest.raises(KeyError_, match=words):
            parse_key(kind, bad)
    with pytest.raises(KeyError_, match="not a valid date"):
        parse_any_key("AAPL-NMS-EQT-2025-02-30-1-C")


def test_scalar_encodings():
    ns = datetime_from_text("2026-02-04 19:17:42.439368")
    assert datetime_to_text(ns) == "2026-02-04 19:17:42.439368"
    assert datetime_to_text(1770232662448841100) == "2026-02-04 19:17:42.448841"
    assert datetime_from_text("2026-02-04") == datetime_from_text("2026-02-04 00:00:00.000000")
    assert idlong_to_text(idlong_from_text("02BD-B117-8025-5342")) == "02BD-B117-8025-5342"
    assert idlong_to_text(idlong_from_text("FFFF-0000-0000-0001")) == "FFFF-0000-0000-0001"


def test_decode_accepts_nested_or_flat_pkeys_and_reports_the_path():
    mt = REG["SpdrParentLimit"]
    flat = decode_record(mt, {"secKey": {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": "2025-07-18",
                                         "xx": 200, "cp": "Put"},
                              "accnt": "T.MTL.VEN", "orderSide": "Sell",
                              "groupingCode": "2137-1312-3867-5309",
                              "secType": "Option", "clientFirm": "SRCORE", "spdrActionType": "Replace"})
    nested = decode_record(mt, {"pkey": {"secKey": "AAPL-NMS-EQT-2025-07-18-200-P", "accnt": "T.MTL.VEN",
                                         "orderSide": "SELL", "groupingCode": "2137-1312-3867-5309",
                                         "secType": "option", "clientFirm": "SRCORE"}})
    from openmlink.schema._codec import pkey_of
    assert pkey_of(mt, flat) == pkey_of(mt, nested)
    assert flat["groupingCode"] == 0x2137131238675309
    with pytest.raises(RecordError) as ei:
        decode_record(mt, {"pkey": {"orderSide": "Sideways"}})
    assert ei.value.path == "$.message.pkey.orderSide"
    assert "Sideways" in ei.value.reason and "BuySell" in ei.value.reason
    # empty strings for numbers mean the default; ints must be integral and in range
    sig = REG["MLinkSignalReady"]
    assert decode_record(sig, {"sesionID": "", "signalID": "", "readyScan": "FullScan"}) == {
        "signalID": 0, "readyScan": sig.field("readyScan").enum.index("FullScan")}
    with pytest.raises(RecordError, match="out of range for short"):
        decode_record(REG["MLinkStream"], {"sessionID": 40000})
    with pytest.raises(RecordError, match="is not an integer"):
        decode_record(REG["MLinkStream"], {"activeLatency": 1.5})


def test_encode_leaves_out_defaults_and_nests_the_pkey():
    mt = REG["AuctionState"]
    rec = decode_record(mt, {"noticeNumber": "1A2B-3C4D-5E6F-7081", "custQty": 0,
                             "BidSolution": [{"numResponders": 2, "matchPrice": 4.75}],
                             "tradeDate": "2026-02-04"})
    body = encode_message(mt, rec)
    assert body == {"pkey": {"noticeNumber": "1A2B-3C4D-5E6F-7081"}, "tradeDate": "2026-02-04",
                    "BidSolution": [{"numResponders": 2, "matchPrice": 4.75}]}
    assert encode_message(mt, rec, frozenset({"tradeDate"})) == {
        "pkey": {"noticeNumber": "1A2B-3C4D-5E6F-7081"}, "tradeDate": "2026-02-04"}


@pytest.mark.parametrize("mod", [openmlink.schema, openmlink.query, openmlink.store, openmlink.bus])
def test_public_faces_export_exactly_their_all(mod):
    assert sorted(mod.__all__) == sorted(mod.__all__)  # no duplicates below
    assert len(set(mod.__all__)) == len(mod.__all__)
    for name in mod.__all__:
        assert hasattr(mod, name), name
    public = {n for n in vars(mod) if not n.startswith("_")}
    submodules = {n for n in public if type(getattr(mod, n)).__name__ == "module"}
    assert public - submodules == set(mod.__all__)
