"""Firm-bound keys see only their firm's positions, risk and autohedge records (REST and
MLinkStream); SpdrAutoHedgeControl posts are validated with the reason in the PostAck."""

from __future__ import annotations

import asyncio
from pathlib import Path

import requests

from tests.conftest import start_server, stop_server
from tests.support.keys import FirmKey, keys_file
from tests.support.serve import collect

KEYS = (FirmKey("ACME-0000-0000-0001", "ann", "ACME"), FirmKey("BETA-0000-0000-0001", "bob", "BETA"))
ACME, BETA = "ACME-0000-0000-0001", "BETA-0000-0000-0001"
SOD = """accnt,clientFirm,secKey,position,mark
A1,ACME,AAPL-NMS-EQT,100,200
B1,BETA,MSFT-NMS-EQT,-50,400
B2,BETA,AAPL-NMS-EQT,7,
"""


def _control(firm: str, target: str = "HedgeToZero") -> dict:
    return {"header": {"mTyp": "SpdrAutoHedgeControl"}, "message": {
        "pkey": {"accnt": "A1", "riskGroupId": "0000-0000-0000-0001",
                 "hedgeSecKey": "AAPL-NMS-EQT-2026-01-16", "hedgeSecType": "Stock",
                 "clientFirm": firm},
        "hedgeTarget": target, "minHedgeDDelta": -1000.0, "maxHedgeDDelta": 1000.0}}


async def _stream(base: str, key: str, msg_name: str) -> list[dict]:
    req = {"header": {"mTyp": "MLinkStream"}, "message": {
        "queryLabel": "v", "activeLatency": 100, "msgName": msg_name}}
    got = await collect(base, req, (msg_name, "MLinkStreamCheckPt"), seconds=5, recv_timeout=1.5,
                        key=key, stop=lambda m: m.get("checkPtType") == "Complete")
    return [m for m in got if "pkey" in m]  # the records, not the checkpoints


def test_firms_see_only_their_risk_and_hedge_records(tmp_path: Path) -> None:
    kf = keys_file(tmp_path, *KEYS)
    pf = tmp_path / "sod.csv"
    pf.write_text(SOD)
    srv = start_server("--no-market", "--no-analytics", "--keys-file", str(kf), "--positions", str(pf))
    try:
        def get(key: str, **params: str) -> list[dict]:
            r = requests.get(srv.rest, params=params, headers={"Authorization": f"Bearer {key}"},
                             timeout=10).json()
            return [m["message"] for m in r[:-1]]

        def post(key: str, body: list) -> list[dict]:
            r = requests.post(srv.rest, params={"cmd": "postmsgs", "postaction": "I"}, json=body,
                              headers={"Authorization": f"Bearer {key}"}, timeout=10).json()
            return [m["message"] for m in r[:-1]]

        for mtype in ("SymbolRiskSummaryV5", "StockPositionRecordV5"):
            a = get(ACME, cmd="getmsgs", msgType=mtype)
            b = get(BETA, cmd="getmsgs", msgType=mtype)
            assert {m["pkey"]["accnt"] for m in a} == {"A1"}
            assert {m["pkey"]["accnt"] for m in b} == {"B1", "B2"}
        ws_a = asyncio.run(_stream(srv.base, ACME, "SymbolRiskSummaryV5"))
        ws_b = asyncio.run(_stream(srv.base, BETA, "SymbolRiskSummaryV5"))
        assert {m["pkey"]["clientFirm"] for m in ws_a} == {"ACME"}
        assert {m["pkey"]["clientFirm"] for m in ws_b} == {"BETA"} and len(ws_b) == 2

        acks = post(ACME, [_control("ACME"), _control("BETA"), _control("ACME", "None")])
        assert acks[0]["result"] == "OK", acks
        assert acks[1]["result"] == "AuthError"
        assert acks[2]["result"] != "OK" and "hedgeTarget: None is not a hedge target" in \
            acks[2]["detail"]
        st = get(ACME, cmd="getmsgs", msgType="SpdrAutoHedgeState")
        assert len(st) == 1 and st[0]["hedgeState"] == "UPrcErr"  # --no-market: no price
        assert st[0]["hedgeText"] == "no price for AAPL-NMS-EQT"
        assert get(BETA, cmd="getmsgs", msgType="SpdrAutoHedgeState") == []
    finally:
        stop_server(srv)


async def _subscribe(base: str, key: str, items: list[dict]) -> list[dict]:
    """Every record an MLinkSubscribe of ``items`` delivers to ``key`` until Active."""
    req = {"header": {"mTyp": "MLinkSubscribe"}, "message": {
        "activeLatency": 100, "Subscribe": items}}
    return await collect(base, req, ("SymbolRiskSummaryV5", "StockPositionRecordV5",
                                     "SpdrAutoHedgeState", "AccountRiskRecordV5",
                                     "MLinkSubscribeCheckPt"),
                         seconds=5, recv_timeout=1.5, key=key,
                         stop=lambda m: m.get("state") == "Active")


def test_mlinksubscribe_by_pkey_delivers_only_the_callers_firm(tmp_path: Path) -> None:
    kf = keys_file(tmp_path, *KEYS)
    pf = tmp_path / "sod.csv"
    pf.write_text(SOD)
    srv = start_server("--no-market", "--no-analytics", "--keys-file", str(kf), "--positions",
                       str(pf))
    try:
        def get(key: str, **params: str) -> list[dict]:
            r = requests.get(srv.rest, params=params, headers={"Authorization": f"Bearer {key}"},
                             timeout=10).json()
            return [m["message"] for m in r[:-1]]

        for key, firm in ((ACME, "ACME"), (BETA, "BETA")):
            r = requests.post(srv.rest, params={"cmd": "postmsgs", "postaction": "I"},
                              json=[_control(firm)], timeout=10,
                              headers={"Authorization": f"Bearer {key}"}).json()
            assert r[0]["message"]["result"] == "OK", r
        items: list[dict] = []
        for key in (ACME, BETA):  # every firm's keys, read by the firm's own key
            for mtype in ("SymbolRiskSummaryV5", "StockPositionRecordV5", "SpdrAutoHedgeState",
                          "AccountRiskRecordV5"):
                items += [{"msgName": mtype, "msgPKey": m["pkey"]}
                          for m in get(key, cmd="getmsgs", msgType=mtype)]
        names = {i["msgName"] for i in items}
        assert names == {"SymbolRiskSummaryV5", "StockPositionRecordV5", "SpdrAutoHedgeState",
                         "AccountRiskRecordV5"}, names
        for key, firm in ((ACME, "ACME"), (BETA, "BETA")):
            n_own = len([i for i in items if i["msgPKey"]["clientFirm"] == firm])
            got = [m for m in asyncio.run(_subscribe(srv.base, key, items)) if "pkey" in m]
            assert len(got) == n_own > 0, (firm, got)  # the other firm's keys deliver nothing
            assert {m["pkey"]["clientFirm"] for m in got} == {firm}
    finally:
        stop_server(srv)
