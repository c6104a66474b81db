"""Through a real ``openmlink serve``: seed example 4 (MLinkStream SymbolRiskSummaryV5 for an
account and trade date) shows non-zero VaRsu50/VaRsd50 after a marketable order filled, and a
restart rebuilds the same positions from the day's executions."""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

from openmlink.timeutil import trade_date_of
from tests.conftest import start_server, stop_server
from tests.support.serve import collect, listed_option_with_nbbo, msgs, wait_for

ACCNT = "T.TJ.VEN3"  # seed example 4's account


async def _example_4(base: str, trade_date: str) -> list[dict[str, Any]]:
    """Seed example 4's stream, unchanged but for the account and trade date of the fill."""
    recs = await collect(base, {"header": {"mTyp": "MLinkStream"}, "message": {
        "queryLabel": "ExampleSymbolRiskSummary", "activeLatency": 2500,
        "msgName": "SymbolRiskSummaryV5",
        "where": f"accnt:eq:{ACCNT} & tradeDate:eq:{trade_date}"}}, "SymbolRiskSummaryV5",
        seconds=15, limit=1)
    # read as the seed reads it
    return [{"ticker": m.get("pkey", {}).get("ticker", {}).get("tk"),
             "tradeDate": m.get("pkey", {}).get("tradeDate"),
             "VaRsu50": m.get("VaRsu50"), "VaRsd50": m.get("VaRsd50")} for m in recs]


def test_seed_example_4_shows_var_after_a_fill_and_restart_rebuilds_positions() -> None:
    d = tempfile.mkdtemp(prefix="openmlink-risk-")
    s = start_server("--seed", "21", data_dir=d)
    try:
        okey, nb = listed_option_with_nbbo(s, "Call")
        order = {"header": {"mTyp": "SpdrParentOrder"}, "message": {
            "secKey": okey, "secType": "Option", "accnt": ACCNT, "orderSide": "Buy",
            "spdrActionType": "Add", "orderSize": 5, "orderLimitType": "Prc",
            "orderPrcLimit": round(nb["askPrice"] + 0.5, 2), "groupingCode": "0000-0000-0004-0001",
            "clientFirm": "F"}}
        ack = msgs(s.post([order], postaction="I"), "PostAck")
        assert ack[0]["result"] == "OK", ack
        fills = wait_for(lambda: msgs(s.get(cmd="getmsgs", msgType="SpdrParentExecution",
                                          where=f"accnt:eq:{ACCNT}"), "SpdrParentExecution"))
        assert fills
        # the trade date is New York's date of the fill (fillDttm is UTC: from 00:00 UTC to
        # New York's midnight the two dates differ)
        filled_at = datetime.fromisoformat(fills[0]["fillDttm"]).replace(tzinfo=UTC)
        trade_date = trade_date_of(int(filled_at.timestamp()) * 1_000_000_000).isoformat()
        rows = asyncio.run(_example_4(s.base, trade_date))
        assert rows, "no SymbolRiskSummaryV5 for the account"
        aapl = [r for r in rows if r["ticker"] == "AAPL"]
        assert aapl and aapl[0]["tradeDate"] == trade_date
        assert aapl[0]["VaRsu50"] > 0 and aapl[0]["VaRsd50"] < 0  # long calls
        time.sleep(1.0)
        filled = sum(f["fillQuantity"] for f in msgs(
            s.get(cmd="getmsgs", msgType="SpdrParentExecution", where=f"accnt:eq:{ACCNT}"),
            "SpdrParentExecution"))
        before = msgs(s.get(cmd="getmsgs", msgType="OptionPositionRecordV5",
                             where=f"accnt:eq:{ACCNT}"), "OptionPositionRecordV5")
    finally:
        stop_server(s)
    assert [p["cnBot"] for p in before] == [filled]
    s2 = start_server("--seed", "21", "--no-market", data_dir=d)
    try:
        after = msgs(s2.get(cmd="getmsgs", msgType="OptionPositionRecordV5",
                             where=f"accnt:eq:{ACCNT}"), "OptionPositionRecordV5")
        keep = ("pkey", "cnBot", "cnSld", "optMnyBot", "optMnySld", "numExecutions", "maxExecDttm")
        assert [{k: p.get(k) for k in keep} for p in after] == \
            [{k: p.get(k) for k in keep} for p in before]
        sym = msgs(s2.get(cmd="getmsgs", msgType="SymbolRiskSummaryV5",
                           where=f"accnt:eq:{ACCNT}"), "SymbolRiskSummaryV5")
        assert [x.get("opCnBot") for x in sym] == [filled]
    finally:
        stop_server(s2)
