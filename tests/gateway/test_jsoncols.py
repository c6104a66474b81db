"""The column-wise JSON builder gives, byte for byte, the record encoder's envelopes (orjson of
``encode_message``), in every framing: checked over the registry's message types with random
values of every field kind (NaN/inf/-0.0, float32 over- and underflow, escapes and non-ASCII
text, enum ordinals out of range, flags, DateTimes over the whole int64 range, dates, keys)."""

from __future__ import annotations

import datetime as _dt

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openmlink.gateway._encode import RowEncoder
from openmlink.gateway._frames import ENVELOPE, JSON, JSONF, JSONF_MAX_PAYLOAD, jsonf_header, ws_header
from openmlink.gateway._jsoncols import _datetime_texts
from openmlink.schema import ExpiryKey, OptionKey, TickerKey, datetime_to_text, key_member_names, registry
from openmlink.schema._codec import encode_envelope
from openmlink.schema._types import INT_RANGES
from openmlink.schema._values import DATEKEY_NONE
from openmlink.store import Table

REG = registry()
NAMES = [mt.name for mt in REG]
# every field kind, several float/double mixes, id longs, flags, repeaters, all three key kinds
KINDS_FIRST = ["OptionNbboQuote", "SpdrParentOrder", "SpanRiskCalculator", "LiveImpliedQuote", "AuctionState",
               "SymbolRiskSummaryV5", "SpdrAutoHedgeState", "StockBookQuote"]

_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-50, -1e-50, 3.5e38, -1e39, 1e16, 1e-7, 230.145, 0.1 + 0.2, 2.0**53, 1e12,
                     -9.999999e11, 1e-4, 9.99999e-5, 1e13, 5e14, -3e-6, 1e-5, 7.7e-44]),
    st.floats(-1e16, 1e16), st.floats(-1e-3, 1e-3),
    st.floats(-1e6, 1e6).map(lambda x: round(x, 2)),
)
_TEXT = st.one_of(st.text(max_size=12),
                  st.sampled_from(["", "a\"b\\c", "\x00\x1f\n\t\u2028", "é€𝄞", "T.MTL"]))
_DATE = st.dates(_dt.date(1, 1, 1), _dt.date(9999, 12, 31)).map(lambda d: d.isoformat())


def _key(kind: str) -> st.SearchStrategy[object]:
    at = st.sampled_from(key_member_names("at"))
    ts = st.sampled_from(key_member_names("ts"))
    tk = st.text(min_size=1, max_size=8)
    ticker = st.builds(TickerKey, at, ts, tk)
    if kind == "TickerKey":
        return st.one_of(st.none(), ticker)
    expiry = st.builds(ExpiryKey, at, ts, tk, _DATE)
    if kind == "ExpiryKey":
        return st.one_of(st.none(), ticker, expiry)
    xx = st.one_of(_FLOATS, st.integers(-10**6, 10**6).map(float),
                   st.floats(0, 5000).map(lambda x: round(x, 3)))
    option = st.builds(OptionKey, at, ts, tk, _DATE, xx, st.sampled_from(key_member_names("cp")))
    return st.one_of(st.none(), ticker, expiry, option)


def _value(f) -> st.SearchStrategy[object]:  # type: ignore[no-untyped-def]
    k = f.kind
    if k == "float":
        return _FLOATS
    if k == "int":
        lo, hi = INT_RANGES[f.int_type or "long"]
        return st.one_of(st.just(0), st.integers(lo, hi), st.integers(max(lo, -3), min(hi, 3)))
    if k == "string":
        return _TEXT.map(lambda s: s[: f.max_len] if f.max_len else s)
    if k == "enum":
        return st.integers(-3, len(f.enum.names) + 3)
    if k == "flag":
        return st.one_of(st.just(0), st.integers(0, 2**16), st.sampled_from([1, 3, 64, 1 << 40]))
    if k == "DateTime":
        return st.one_of(st.just(0), st.integers(-2**63, 2**63 - 1),
                         st.integers(0, 4_102_444_800_000_000_000))
    if k == "DateKey":
        epoch = _dt.date(1970, 1, 1).toordinal()
        days = st.integers(_dt.date(1, 1, 1).toordinal() - epoch, _dt.date(9999, 12, 31).toordinal() - epoch)
        return st.one_of(st.just(DATEKEY_NONE), days)
    if k in ("TickerKey", "ExpiryKey", "OptionKey"):
        return _key(k)
    if k == "Repeater":
        row = st.fixed_dictionaries({}, optional={g.name: _value(g) for g in f.group.fields})
        return st.lists(row, max_size=2).map(tuple)
    raise AssertionError(k)


def _framed(env: bytes, framing: str, msg_num: int) -> bytes:
    if framing == JSON:
        return ws_header(len(env), False) + env
    if framing == JSONF:
        return jsonf_header(msg_num, len(env)) + env if len(env) <= JSONF_MAX_PAYLOAD else b""
    return env


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_column_json_is_the_record_encoders_bytes(data):
    name = data.draw(st.one_of(st.sampled_from(KINDS_FIRST), st.sampled_from(NAMES)), label="type")
    mt = REG[name]
    t = Table(mt)
    n = data.draw(st.integers(1, 6), label="rows")
    for _ in range(n):
        rec = {f.name: data.draw(_value(f), label=f.name) for f in mt.fields
               if data.draw(st.booleans(), label=f"has {f.name}")}
        for f in mt.pkey_fields:  # distinct keys, so each record is its own row
            rec.setdefault(f.name, f.default)
        t.upsert(rec, merge=False)
    rows = t.live_rows()
    names = [f.name for f in mt.fields]
    view = data.draw(st.one_of(st.none(), st.sets(st.sampled_from(names)).map(frozenset)), label="view")
    want = [encode_envelope(mt, t.record(r), view) for r in rows.tolist()]
    for small in (0, 100):  # the column builder, and the row-by-row path of small calls
        enc = RowEncoder(mt, view)
        enc.small_rows = small
        for framing in (ENVELOPE, JSON, JSONF):
            units, sizes = enc.encode_wire(t, rows, framing)
            assert units.tolist() == [_framed(e, framing, mt.id) for e in want], (framing, small)
            assert sizes.tolist() == [len(e) for e in want]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-2**63, 2**63 - 1), min_size=1, max_size=40))
def test_datetime_texts_are_datetime_to_text(ns):
    t = _datetime_texts(np.array(ns, np.int64))
    got = [None if s < 0 else bytes(t.pool[a:a + s]).decode() for a, s in zip(t.start, t.size, strict=True)]
    assert got == [None if v == 0 else f'"{datetime_to_text(v)}"' for v in ns]


def test_key_edge_values_match_the_record_encoder():
    """Strikes that are not plain numbers (NaN, inf, -0.0, beyond 2**53), keys of each width,
    and an empty key, in a pkey and in a data field."""
    mt = REG["OptionNbboQuote"]
    strikes = [float("nan"), float("inf"), -float("inf"), -0.0, 2.0**53, 2.0**53 + 2, -(2.0**52) - 0.5, 1e300,
               62.5, 10.0, 5e-324]
    t = Table(mt)
    for i, xx in enumerate(strikes):
        t.upsert({"okey": OptionKey("EQT", "NMS", f"K{i}", "2026-01-16", xx, "Put"), "bidPrice": xx})
    t.upsert({"okey": ExpiryKey("EQT", "NMS", "SPX", "2025-05-16")})
    t.upsert({"okey": TickerKey("EQT", "NMS", "T\"Q")})
    rows = t.live_rows()
    want = [encode_envelope(mt, t.record(r)) for r in rows.tolist()]
    assert RowEncoder(mt, None).encode(t, rows) == want
    assert b'"xx":null' in want[0] and b'"xx":9007199254740994.0' in want[5]
