"""Through a real ``openmlink serve``: seed example 4 (MLinkStream SymbolRiskSummaryV5 for an
account and trade date) shows non-zero VaRsu50/VaRsd50 after a marketable order filled, and a
restart rebuilds the same positions from the day's executions."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from typing import Any

import aiohttp

from tests.conftest import API_KEY, Server, start_server, stop_server

ACCNT = "T.TJ.VEN3"  # seed example 4's account


def _msgs(reply: list[dict], mtype: str) -> list[dict]:
    return [m["message"] for m in reply if m["header"]["mTyp"] == mtype]


def _wait(pred, timeout: float = 120.0):  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.3)
    return pred()


def _listed_option(s: Server) -> tuple[dict[str, Any], dict[str, Any]]:
    def find() -> tuple[dict[str, Any], dict[str, Any]] | None:
        qs = _msgs(s.get(cmd="getmsgs", msgType="LiveImpliedQuote",
                         where="okey:eq:AAPL-NMS-EQT & sVol:gt:0", limit=5000), "LiveImpliedQuote")
        calls = [q for q in qs if q["pkey"]["okey"]["cp"] == "Call" and q.get("oAsk", 0) > 0.5
                 and q.get("years", 0) > 0.05]
        if not calls:
            return None
        okey = min(calls, key=lambda q: abs(q["pkey"]["okey"]["xx"] - q["uPrc"]))["pkey"]["okey"]
        nb = _msgs(s.get(cmd="getmsg", msgType="OptionNbboQuote",
                         pkey=f"AAPL-NMS-EQT-{okey['dt']}-{okey['xx']:g}-{okey['cp'][0]}"),
                   "OptionNbboQuote")
        return (okey, nb[0]) if nb and nb[0].get("askPrice", 0) > 0 else None
    found = _wait(find)
    assert found, "no AAPL surface within 120 s"
    return found


async def _example_4(base: str, trade_date: str) -> list[dict[str, Any]]:
    """Seed example 4's stream, unchanged but for the account and trade date of the fill."""
    out: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as sess, sess.ws_connect(
            base.replace("http", "ws") + "/mlink/json",
            headers={"Authorization": f"Bearer {API_KEY}"}) as ws:
        await ws.send_str(json.dumps({"header": {"mTyp": "MLinkStream"}, "message": {
            "queryLabel": "ExampleSymbolRiskSummary", "activeLatency": 2500,
            "msgName": "SymbolRiskSummaryV5",
            "where": f"accnt:eq:{ACCNT} & tradeDate:eq:{trade_date}"}}))
        end = time.time() + 15
        while time.time() < end and not out:
            try:
                m = await ws.receive(timeout=5)
            except TimeoutError:
                break
            if m.type != aiohttp.WSMsgType.TEXT:
                break
            d = json.loads(m.data)
            for env in d if isinstance(d, list) else [d]:
                if env.get("header", {}).get("mTyp") == "SymbolRiskSummaryV5":
                    msg = env["message"]  # read as the seed reads it
                    out.append({"ticker": msg.get("pkey", {}).get("ticker", {}).get("tk"),
                                "tradeDate": msg.get("pkey", {}).get("tradeDate"),
                                "VaRsu50": msg.get("VaRsu50"), "VaRsd50": msg.get("VaRsd50")})
    return out


def test_seed_example_4_shows_var_after_a_fill_and_restart_rebuilds_positions() -> None:
    d = tempfile.mkdtemp(prefix="openmlink-risk-")
    s = start_server("--seed", "21", data_dir=d)
    try:
        okey, nb = _listed_option(s)
        order = {"header": {"mTyp": "SpdrParentOrder"}, "message": {
            "secKey": okey, "secType": "Option", "accnt": ACCNT, "orderSide": "Buy",
            "spdrActionType": "Add", "orderSize": 5, "orderLimitType": "Prc",
            "orderPrcLimit": round(nb["askPrice"] + 0.5, 2), "groupingCode": "0000-0000-0004-0001",
            "clientFirm": "F"}}
        ack = _msgs(s.post([order], postaction="I"), "PostAck")
        assert ack[0]["result"] == "OK", ack
        fills = _wait(lambda: _msgs(s.get(cmd="getmsgs", msgType="SpdrParentExecution",
                                          where=f"accnt:eq:{ACCNT}"), "SpdrParentExecution"))
        assert fills
        trade_date = fills[0]["fillDttm"][:10]
        rows = asyncio.run(_example_4(s.base, trade_date))
        assert rows, "no SymbolRiskSummaryV5 for the account"
        aapl = [r for r in rows if r["ticker"] == "AAPL"]
        assert aapl and aapl[0]["tradeDate"] == trade_date
        assert aapl[0]["VaRsu50"] > 0 and aapl[0]["VaRsd50"] < 0  # long calls
        time.sleep(1.0)
        filled = sum(f["fillQuantity"] for f in _msgs(
            s.get(cmd="getmsgs", msgType="SpdrParentExecution", where=f"accnt:eq:{ACCNT}"),
            "SpdrParentExecution"))
        before = _msgs(s.get(cmd="getmsgs", msgType="OptionPositionRecordV5",
                             where=f"accnt:eq:{ACCNT}"), "OptionPositionRecordV5")
    finally:
        stop_server(s)
    assert [p["cnBot"] for p in before] == [filled]
    s2 = start_server("--seed", "21", "--no-market", data_dir=d)
    try:
        after = _msgs(s2.get(cmd="getmsgs", msgType="OptionPositionRecordV5",
                             where=f"accnt:eq:{ACCNT}"), "OptionPositionRecordV5")
        keep = ("pkey", "cnBot", "cnSld", "optMnyBot", "optMnySld", "numExecutions", "maxExecDttm")
        assert [{k: p.get(k) for k in keep} for p in after] == \
            [{k: p.get(k) for k in keep} for p in before]
        sym = _msgs(s2.get(cmd="getmsgs", msgType="SymbolRiskSummaryV5",
                           where=f"accnt:eq:{ACCNT}"), "SymbolRiskSummaryV5")
        assert [x.get("opCnBot") for x in sym] == [filled]
    finally:
        stop_server(s2)
