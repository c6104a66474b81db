"""Plain and framed JSON (mlink-protocol.md 1.3) and record flattening."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmlink.client import decode_frame, encode_message, flatten

text = st.text(max_size=12)
bodies = st.dictionaries(st.text("abcdefgh", min_size=1, max_size=6),
                         st.one_of(st.integers(-10**9, 10**9), text, st.floats(allow_nan=False)),
                         max_size=6)
envelopes = st.builds(lambda t, m: {"header": {"mTyp": t}, "message": m},
                      st.sampled_from(["MLinkStream", "StockBookQuote", "MLinkSignalReady"]), bodies)


@given(st.lists(envelopes, min_size=1, max_size=5))
def test_framed_messages_concatenated_in_one_frame_decode_in_order(envs):
    data = "".join(encode_message(e, "jsonf") for e in envs)
    assert decode_frame(data, "jsonf") == envs
    assert decode_frame(data.encode(), "jsonf") == envs


@given(envelopes)
def test_plain_json_is_one_message_per_frame(env):
    assert decode_frame(encode_message(env, "json"), "json") == [env]


def test_frame_header_layout_and_malformed_frames():
    env = {"header": {"mTyp": "MLinkSignalReady"}, "message": {}}
    f = encode_message(env, "jsonf")
    payload = json.dumps(env, separators=(",", ":"))
    assert f == f"\r\nJ00000{len(payload):06d}{payload}"
    with pytest.raises(ValueError, match="no frame header"):
        decode_frame("xx" + f, "jsonf")
    with pytest.raises(ValueError, match="claims"):
        decode_frame(f[:-2], "jsonf")
    with pytest.raises(ValueError, match="envelope"):
        decode_frame("[1]", "json")


def test_flatten_lifts_the_key_and_splits_key_objects():
    rec = {"pkey": {"okey": {"at": "EQT", "ts": "NMS", "tk": "SPY", "dt": "2025-07-18", "xx": 500,
                             "cp": "Call"}},
           "ticker": {"at": "EQT", "ts": "NMS", "tk": "SPY"}, "sVol": 0.2,
           "BidSolution": [{"prc": 1.0}]}
    assert flatten(rec) == {"okey_at": "EQT", "okey_ts": "NMS", "okey_tk": "SPY",
                            "okey_dt": "2025-07-18", "okey_xx": 500, "okey_cp": "Call",
                            "ticker_at": "EQT", "ticker_ts": "NMS", "ticker_tk": "SPY",
                            "sVol": 0.2, "BidSolution": [{"prc": 1.0}]}
    assert flatten({"pkey": {"accnt": "A", "tradeDate": "2025-01-02"}, "x": 1}) == {
        "accnt": "A", "tradeDate": "2025-01-02", "x": 1}
