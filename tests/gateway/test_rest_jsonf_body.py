"""/rest/jsonf post bodies (spec 1.3): every framed message holds exactly one envelope and its
header's message number is 00000 or that of the envelope's type; otherwise the body is refused
with a QueryResult naming the message, and nothing is stored."""

from __future__ import annotations

import orjson

from tests.support.fuzzcases import KEY, fingerprint, fuzz_platform, jsonf_docs

PARAMS = [("cmd", "postmsgs"), ("msgType", "SpanRiskCalculator"), ("postAction", "I"), ("apiKey", KEY)]


def _msg(user: str) -> bytes:
    return orjson.dumps({"header": {"mTyp": "SpanRiskCalculator"},
                         "message": {"pkey": {"secKey": "AAPL-NMS-EQT-2026-01-16-100-C", "secType": "Option",
                                              "userName": user}, "vol": 0.2}})


def _framed(*parts: tuple[int, bytes]) -> bytes:
    return b"".join(b"\r\nJ%05d%06d%b" % (num, len(p), p) for num, p in parts)


def _post(plat, body: bytes) -> list[dict]:  # type: ignore[no-untyped-def]
    status, out = plat.rest.handle("POST", PARAMS, {}, body, framed=True)
    assert status == 200
    return jsonf_docs(plat, out)  # every answer header checked: number and length


def test_framed_messages_with_zero_or_their_own_number_are_posted():
    plat = fuzz_platform()
    num = plat.registry["SpanRiskCalculator"].id
    docs = _post(plat, _framed((0, _msg("a1")), (num, _msg("a2"))))
    assert [d["header"]["mTyp"] for d in docs] == ["PostAck", "PostAck", "QueryResult"]
    assert [d["message"]["result"] for d in docs[:2]] == ["OK", "OK"]


def test_two_envelopes_in_one_framed_message_are_refused():
    plat = fuzz_platform()
    before = fingerprint(plat)
    docs = _post(plat, _framed((0, _msg("b1")), (0, _msg("b2") + b"," + _msg("b3"))))
    assert [d["header"]["mTyp"] for d in docs] == ["QueryResult"]
    assert docs[0]["message"]["result"] == "Error"
    assert "framed message 1: not one JSON document" in docs[0]["message"]["detail"]
    assert fingerprint(plat) == before


def test_a_message_number_not_that_of_the_type_is_refused():
    plat = fuzz_platform()
    before = fingerprint(plat)
    docs = _post(plat, _framed((0, _msg("c1")), (3380, _msg("c2"))))
    assert [d["header"]["mTyp"] for d in docs] == ["QueryResult"]
    detail = docs[0]["message"]["detail"]
    assert "framed message 1" in detail and "03380" in detail and "SpanRiskCalculator" in detail
    assert fingerprint(plat) == before
