"""Client records persist across a restart of the server (SRSE); market data does not."""

from __future__ import annotations

import sqlite3

from tests.conftest import start_server, stop_server


def _span(user: str, vol: float) -> dict:
    return {"header": {"mTyp": "SpanRiskCalculator"},
            "message": {"pkey": {"secKey": "AAPL-NMS-EQT-2026-01-16-200-P", "secType": "Option",
                                 "userName": user}, "vol": vol, "volSrc": "User"}}


def _surface(model: str) -> dict:
    return {"header": {"mTyp": "SpdrTheoExpSurface"},
            "message": {"pkey": {"ekey": "AAPL-NMS-EQT-2026-01-16", "theoModel": model,
                                 "clientFirm": "ACME"},
                        "skewFunc": "SVI", "paramA": 0.04, "theoVol": 0.3}}


def test_client_records_survive_a_restart_and_deletes_stay_deleted(tmp_path):
    srv = start_server("--no-market", data_dir=str(tmp_path))
    try:
        acks = srv.post([_span("ann", 0.2), _span("bob", 0.3), _surface("m1")], postaction="I")
        assert [a["message"]["result"] for a in acks[:-1]] == ["OK"] * 3
        srv.post(_span("ann", 0.25) | {"message": {**_span("ann", 0.25)["message"], "uPrc": 190.0}},
                 postaction="U")
        srv.post(_span("bob", 0), postaction="D")
    finally:
        stop_server(srv)
    with sqlite3.connect(tmp_path / "srse.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 2
    srv = start_server("--no-market", data_dir=str(tmp_path))
    try:
        got = srv.get(cmd="getmsgs", msgType="SpanRiskCalculator")
        recs = [m["message"] for m in got if m["header"]["mTyp"] == "SpanRiskCalculator"]
        assert len(recs) == 1
        assert recs[0]["pkey"]["userName"] == "ann"
        assert recs[0]["vol"] == 0.25 and recs[0]["uPrc"] == 190.0 and recs[0]["volSrc"] == "User"
        surf = srv.get(cmd="getmsg", msgType="SpdrTheoExpSurface",
                       pkey="AAPL-NMS-EQT-2026-01-16|m1|ACME")
        assert surf[0]["message"]["skewFunc"] == "SVI" and surf[0]["message"]["paramA"] == 0.04
    finally:
        stop_server(srv)


def test_no_persist_keeps_nothing(tmp_path):
    srv = start_server("--no-market", "--no-persist")
    try:
        srv.post(_span("zed", 0.2), postaction="I")
    finally:
        stop_server(srv)
    srv = start_server("--no-market", "--no-persist")
    try:
        got = srv.get(cmd="getcount", msgType="SpanRiskCalculator")
        assert got[0]["message"] == {"count": 0}
    finally:
        stop_server(srv)

