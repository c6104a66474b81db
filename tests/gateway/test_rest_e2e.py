"""The REST API end to end through a real ``openmlink serve`` process over HTTP: status codes,
the body-size limit of the HTTP layer, a post read back (the commands themselves are tested in
process: test_rest.py)."""

from __future__ import annotations

import requests

from tests.conftest import API_KEY

SPAN = "SpanRiskCalculator"


def test_auth_status_codes_and_a_post_read_back_over_http(server):
    r = requests.get(server.rest, params={"cmd": "getcount", "msgType": SPAN}, timeout=10)
    assert r.status_code == 401 and r.json()[-1]["message"]["result"] == "AuthError"
    body = {"header": {"mTyp": SPAN},
            "message": {"pkey": {"secKey": "E2E-NMS-EQT-2026-01-16-100-C", "secType": "Option",
                                 "userName": "e2e"}, "vol": 0.3, "volSrc": "User", "uPrc": 99.0,
                        "uPrcSrc": "User"}}
    r = requests.post(server.rest, params={"cmd": "postmsgs", "postaction": "I"}, json=[body],
                      headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)
    assert r.status_code == 200 and r.json()[0]["message"]["result"] == "OK", r.text
    got = server.get(cmd="getmsgs", msgType=SPAN, where="pkey.userName:eq:e2e", view="vol")
    assert [m["message"]["vol"] for m in got if m["header"]["mTyp"] == SPAN] == [0.3]
    server.post(body, postaction="D")


def test_a_body_over_the_limit_is_refused_without_being_read(server):
    r = requests.post(server.rest, params={"cmd": "postmsgs", "postaction": "I", "apiKey": API_KEY},
                      data=b"[" + b" " * (17 * 1024 * 1024) + b"]", timeout=30)
    assert r.status_code == 413
    assert "exceeds the limit" in r.json()[-1]["message"]["detail"]
