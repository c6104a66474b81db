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


@st.composite
def _pkeys(draw: st.DrawFn) -> tuple[str, tuple]:
    """A pkey tuple of any keyed type, each part any value its kind may hold (out-of-range
    enums, NaN, unset dates, None keys, numpy integers included)."""
    import math

    import numpy as np

    from openmlink.schema import DATEKEY_NONE, ExpiryKey, OptionKey
    name = draw(st.sampled_from(sorted(m.name for m in REG.types if m.pkey_fields)))
    parts = []
    for f in REG[name].pkey_fields:
        k = f.kind
        if k == "float":
            v = draw(st.floats(allow_nan=True, allow_infinity=True) | st.just(math.nan))
        elif k in ("int", "DateTime"):
            v = draw(st.integers(0 if k == "DateTime" else -(2**63), 2**62))
        elif k == "enum":
            i = draw(st.integers(-2, len(f.enum.names) + 2))
            v = draw(st.sampled_from([i, np.int16(i)]))
        elif k == "string":
            v = draw(_word | st.just(""))
        elif k == "DateKey":
            v = draw(st.just(DATEKEY_NONE) | st.integers(0, 40_000))
        elif k in ("TickerKey", "ExpiryKey", "OptionKey"):
            v = draw(st.sampled_from([None, TickerKey("EQT", "NMS", "AAPL"),
                                      ExpiryKey("EQT", "NMS", "AAPL", "2026-01-16"),
                                      OptionKey("EQT", "NMS", "AAPL", "2026-01-16", 182.5, "Put")]))
        else:
            v = draw(st.integers(0, 7))
        parts.append(v)
    return name, tuple(parts)


@given(_pkeys())
def test_pkey_text_is_each_part_encode_text_joined(case: tuple[str, tuple]) -> None:
    """The code generated per type gives the text of the generic join, part for part."""
    from openmlink.schema._codec import _generic_pkey_text
    name, pk = case
    mt = REG[name]
    assert pkey_text(mt, pk) == _generic_pkey_text(mt, pk)
    with pytest.raises(ValueError):
        pkey_text(mt, (*pk, 1))
