"""One pkey-text parser (REST pkey=, WebSocket msgPKey, message bodies): flat text, JSON text
or object; errors name the part."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmlink.schema import RecordError, TickerKey, parse_pkey, pkey_of, pkey_text, registry, split_pkey

REG = registry()
ITEM = REG["TickerItemDef"]
SPAN = REG["SpanRiskCalculator"]

_word = st.text(alphabet=st.characters(min_codepoint=48, max_codepoint=122,
                                       blacklist_characters="|\\`^[]_"), min_size=1, max_size=12)
_tk = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=5)


@given(tk=_tk, basket=st.integers(-2**63, 2**63 - 1), user=_word)
def test_flat_text_round_trips(tk: str, basket: int, user: str) -> None:
    pk = (TickerKey("EQT", "NMS", tk), basket, user)
    assert parse_pkey(ITEM, pkey_text(ITEM, pk)) == pk


@given(tk=_tk, strike=st.integers(1, 5000), cp=st.sampled_from(["Call", "Put"]),
       sec=st.sampled_from(["Option", "Stock", "Future"]), user=_word)
def test_flat_json_and_object_forms_agree(tk: str, strike: int, cp: str, sec: str, user: str) -> None:
    okey = f"{tk}-NMS-EQT-2026-01-16-{strike}-{cp[0]}"
    flat = parse_pkey(SPAN, f"{okey}|{sec}|{user}")
    obj = {"secKey": okey, "secType": sec, "userName": user}
    assert parse_pkey(SPAN, obj) == flat
    assert parse_pkey(SPAN, orjson.dumps(obj).decode()) == flat
    rec = {"secKey": flat[0], "secType": flat[1], "userName": user}
    assert pkey_of(SPAN, rec) == flat


@given(st.text(max_size=60))
def test_any_text_parses_or_fails_with_a_record_error(text: str) -> None:
    try:
        pk = parse_pkey(ITEM, text, "msgPKey")
    except RecordError as e:
        assert e.path.startswith("msgPKey")
    else:
        assert len(pk) == 3


def test_errors_name_the_part() -> None:
    with pytest.raises(RecordError, match=r"^pkey: TickerItemDef pkey has 3 parts .* got 2"):
        parse_pkey(ITEM, "AAPL-NMS-EQT|1")
    with pytest.raises(RecordError, match=r"^pkey\.basketNumber: 'x' is not an integer"):
        parse_pkey(ITEM, "AAPL-NMS-EQT|x|bob")
    with pytest.raises(RecordError, match=r"^pkey\.ticker: "):
        parse_pkey(ITEM, "not a ticker|1|bob")
    with pytest.raises(RecordError, match=r"^pkey: not valid JSON"):
        parse_pkey(ITEM, "{oops")
    with pytest.raises(RecordError, match=r"^pkey\.secType: 'Bond' is not a value"):
        parse_pkey(SPAN, "AAPL-NMS-EQT-2026-01-16-100-C|Bond|u")


def test_partial_split_for_filters() -> None:
    assert split_pkey(ITEM, "AAPL-NMS-EQT", "pkey", partial=True) == ["AAPL-NMS-EQT"]
    with pytest.raises(RecordError):
        split_pkey(ITEM, "a|b|c|d", "pkey", partial=True)
