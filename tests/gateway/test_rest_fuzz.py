"""No request crashes the REST handler: whatever the parameters and body, the reply is a JSON
array ending in a QueryResult, and stored data is unchanged by refused requests."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.fuzzcases import KEY, fuzz_platform

PLAT = fuzz_platform()  # five SpanRiskCalculator records (and 50 OptionNbboQuote ones)
_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_field = st.sampled_from(["vol", "uPrc", "secKey", "secKey.tk", "secKey.xx", "userName", "volSrc",
                          "divString", "timestamp", "span01", "nope", "pkey.userName", "", "a.b.c"])
_op = st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le", "sw", "ew", "cv", "nv", "cb", "zz", ""])
_val = st.one_of(_text, st.sampled_from(["0.1", "-1", "AAPL-NMS-EQT", "AAPL-NMS-EQT-2026-01-16",
                                         "User", "2026-01-16", "1$2", "x$y", "$", "1e309", "nan"]))
_where = st.one_of(_text, st.builds(lambda f, o, v: f"{f}:{o}:{v}", _field, _op, _val),
                   st.lists(st.builds(lambda f, o, v: f"{f}:{o}:{v}", _field, _op, _val), max_size=4)
                   .map(lambda xs: " & ".join(xs)).map(lambda s: f"({s}) | vol:gt:0"))
_params = st.fixed_dictionaries(
    {"cmd": st.sampled_from(["getmsgs", "getmsg", "getcount", "getaggregate", "getschema",
                             "getmsgtypes", "postmsgs", "GETMSGS", "", "x"]),
     "msgType": st.sampled_from(["SpanRiskCalculator", "spanriskcalculator", "5060", "", "Nope",
                                 "LiveImpliedQuote", "AuctionState"])},
    optional={"where": _where, "view": st.one_of(_text, st.sampled_from(["vol|uPrc", "vol,nope", "|"])),
              "order": st.one_of(_text, st.sampled_from(["vol:DESC", "(vol:ASC|userName:DESC:ABS)",
                                                         "secKey:ASC", "vol"])),
              "limit": st.one_of(_text, st.integers(-5, 10**12).map(str)),
              "pkey": st.one_of(_text, st.sampled_from(["AAPL-NMS-EQT-2026-01-16-100-C|Option|u0",
                                                        "{\"secKey\": 1}", "a|b|c|d"])),
              "measure": st.one_of(_text, st.sampled_from(["vol|volSrc|secKey", "nope", "timestamp"])),
              "group": st.one_of(_text, st.sampled_from(["userName:top:2", "vol:Q:3", "vol:RANGE:0",
                                                         "timestamp:TIMEHIST:3#2026-01-01#2026-02-01",
                                                         "secKey|volSrc|vol:RANGE:2|a|b"])),
              "postaction": st.sampled_from(["I", "U", "R", "D", "X", ""]),
              "postmerge": st.sampled_from(["Y", "N", "maybe"])})
_body = st.one_of(st.binary(max_size=60), st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), _text),
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(_text, kids, max_size=3)),
    max_leaves=10).map(orjson.dumps), st.just(orjson.dumps(
        {"header": {"mTyp": "SpanRiskCalculator"}, "message": {"pkey": {"secKey": "x"}}})))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_params, _body, st.sampled_from(["GET", "POST"]))
def test_no_request_crashes_the_rest_handler(params, body, method):
    table = PLAT.store.table(PLAT.registry["SpanRiskCalculator"])
    before = table.count
    status, out = PLAT.rest.handle(method, [*params.items(), ("apiKey", KEY)], {}, body)
    assert status == 200
    reply = orjson.loads(out)
    assert isinstance(reply, list) and reply[-1]["header"]["mTyp"] == "QueryResult"
    res = reply[-1]["message"]
    assert res["result"] in ("Ok", "Error", "AuthError", "TokenError")
    if res["result"] != "Ok":
        assert res["detail"]
        assert table.count == before
