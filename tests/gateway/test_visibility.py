"""Client-firm visibility: keys bound to a firm see and write only that firm's records."""

from __future__ import annotations

import requests

from tests.conftest import start_server, stop_server
from tests.support.keys import FirmKey, keys_file

KEYS = (FirmKey("ACME-0000-0000-0001", "ann", "ACME"),
        FirmKey("BETA-0000-0000-0001", "bob", "BETA", tokens=("ClientTheo",)))


def _surface(model: str, firm: str = "") -> dict:
    return {"header": {"mTyp": "SpdrTheoExpSurface"},
            "message": {"pkey": {"ekey": "AAPL-NMS-EQT-2026-01-16", "theoModel": model, "clientFirm": firm},
                        "theoVol": 0.3}}


def test_firms_see_only_their_own_records_and_tokens_limit_types(tmp_path):
    kf = keys_file(tmp_path, *KEYS)
    srv = start_server("--no-market", "--keys-file", str(kf))
    try:
        def call(key: str, method: str = "GET", body: object = None, **params: str) -> list[dict]:
            h = {"Authorization": f"Bearer {key}"}
            if method == "POST":
                return requests.post(srv.rest, params={"cmd": "postmsgs", **params}, json=body, headers=h,
                                     timeout=10).json()
            return requests.get(srv.rest, params=params, headers=h, timeout=10).json()

        acme, beta = "ACME-0000-0000-0001", "BETA-0000-0000-0001"
        ack = call(acme, "POST", [_surface("m1"), _surface("m2", "ACME"), _surface("x", "BETA")],
                   postaction="I")
        assert [a["message"]["result"] for a in ack[:-1]] == ["OK", "OK", "AuthError"]
        assert "not your client firm" in ack[2]["message"]["detail"]
        assert call(beta, "POST", [_surface("b1")], postaction="I")[0]["message"]["result"] == "OK"
        mine = call(acme, cmd="getmsgs", msgType="SpdrTheoExpSurface")
        assert sorted(m["message"]["pkey"]["theoModel"] for m in mine[:-1]) == ["m1", "m2"]
        theirs = call(beta, cmd="getmsgs", msgType="SpdrTheoExpSurface")
        assert [m["message"]["pkey"]["theoModel"] for m in theirs[:-1]] == ["b1"]
        cnt = call(beta, cmd="getcount", msgType="SpdrTheoExpSurface", where="theoModel:eq:m1")
        assert cnt[0]["message"] == {"count": 0}
        # a key without the token of a type gets TokenError
        denied = call(beta, cmd="getmsgs", msgType="StockBookQuote")
        assert denied[-1]["message"]["result"] == "TokenError"
    finally:
        stop_server(srv)
