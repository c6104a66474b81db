"""No inbound frame crashes a session (sans-I/O): every frame gets an answer or is ignored, and
the session keeps serving."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openmlink.clock import SimClock
from openmlink.gateway import ApiKeys, Principal
from openmlink.gateway._session import Hub, MLinkSession
from openmlink.platform import build_platform

KEY = "FUZZ-0000-0000-0002"
_keys = ApiKeys()
_keys.add(Principal(KEY))
PLAT = build_platform(_keys, clock=SimClock(1_770_000_000_000_000_000))
HUB = Hub(PLAT.registry, PLAT.store, _keys, PLAT.clock)

_text = st.text(max_size=30)
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                    st.floats(allow_nan=False, allow_infinity=False), _text)
_json = st.recursive(_scalar, lambda k: st.one_of(st.lists(k, max_size=3),
                                                   st.dictionaries(_text, k, max_size=3)), max_leaves=8)
_names = st.sampled_from(["MLinkStream", "MLinkSubscribe", "MLinkSignalReady", "MLinkLogon",
                          "SpanRiskCalculator", "StockBookQuote", "Nope", 3380, ""])
_msg = st.fixed_dictionaries({}, optional={
    "msgName": st.one_of(_text, st.sampled_from(["StockBookQuote", "OptionNbboQuote", "3000"])),
    "where": st.one_of(_text, st.sampled_from(["ticker:eq:AAPL-NMS-EQT", "(a", "bidPrice1:cb:1$2"])),
    "view": _text, "activeLatency": _scalar, "unsubscribe": _scalar, "sessionID": _scalar,
    "highwaterTs": _scalar, "readyScan": _scalar, "signalID": _scalar, "doReset": _scalar,
    "Subscribe": _json, "Unsubscribe": _json, "View": _json, "compression": _scalar, "apiKey": _text})
_frame = st.one_of(
    _text, _json.map(lambda v: orjson.dumps(v).decode()),
    st.builds(lambda n, m: orjson.dumps({"header": {"mTyp": n}, "message": m}).decode(), _names, _msg))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_frame, min_size=1, max_size=5))
def test_no_frame_crashes_a_session(frames):
    s = MLinkSession(HUB, Principal(KEY))
    now = PLAT.clock.time_ns()
    out = s.pull(now)
    for f in frames:
        s.receive(f, now)
        out += s.pull(now)
    for f in out:
        doc = orjson.loads(f)
        assert "mTyp" in doc["header"] and len(f) <= 1 << 20
    # still serving: a valid stream request is answered
    s.receive(orjson.dumps({"header": {"mTyp": "MLinkStream"},
                            "message": {"msgName": "StockBookQuote"}}).decode(), now)
    tail = [orjson.loads(f) for f in s.pull(now)]
    assert any(m["header"]["mTyp"] == "MLinkStreamAck" and m["message"]["result"] == "OK" for m in tail)
    s.close()
