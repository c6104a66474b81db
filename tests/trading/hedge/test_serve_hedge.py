"""Through a real ``openmlink serve``: post a SpdrAutoHedgeControl, fill a marketable option
order, and watch (MLinkStream) the hedge stock order fill and the group's delta fall within the
band; the stock position and the symbol risk reflect the hedge."""

from __future__ import annotations

import asyncio
import tempfile

from tests.conftest import Server, start_server, stop_server
from tests.support.serve import collect, listed_option, msgs, nbbo_of, wait_for

ACCNT, FIRM = "T.HDG.VEN", "F"
BAND = 2_000.0


def _state_name(m: dict) -> str:
    return str(m.get("hedgeState"))


def _post(s: Server, mtyp: str, message: dict) -> dict:
    ack = msgs(s.post([{"header": {"mTyp": mtyp}, "message": message}], postaction="I"),
               "PostAck")
    assert ack and ack[0]["result"] == "OK", ack
    return ack[0]


def test_autohedge_control_hedges_an_option_fill_into_the_band() -> None:
    s = start_server("--seed", "21", data_dir=tempfile.mkdtemp(prefix="openmlink-hedge-"))
    try:
        okey = listed_option(s, "Call", price="oAsk", timeout=120)
        nb = wait_for(lambda: (q := nbbo_of(s, okey)) and q.get("askPrice", 0) > 0 and q, 60)
        assert nb, "no NBBO for the series"
        _post(s, "SpdrAutoHedgeControl", {
            "pkey": {"accnt": ACCNT, "riskGroupId": 0, "clientFirm": FIRM,
                     "hedgeSecKey": {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": okey["dt"]},
                     "hedgeSecType": "Stock"},
            "autoHedge": "FastCrx", "hedgeTarget": "HedgeToZero", "minHedgeDDelta": -BAND,
            "maxHedgeDDelta": BAND})
        _post(s, "SpdrParentOrder", {
            "secKey": okey, "secType": "Option", "accnt": ACCNT, "clientFirm": FIRM,
            "orderSide": "Buy", "spdrActionType": "Add", "orderSize": 5, "orderLimitType": "Prc",
            "orderPrcLimit": round(nb["askPrice"] + 0.5, 2), "groupingCode": "0000-0000-0005-0001",
            "autoHedge": "FastCrx"})
        stream = {"header": {"mTyp": "MLinkStream"}, "message": {
            "queryLabel": "hedge", "msgName": "SpdrAutoHedgeState", "activeLatency": 1,
            "where": f"accnt:eq:{ACCNT}"}}

        def hedged(m: dict) -> bool:
            return (_state_name(m) == "InBand" and m.get("ctrlDeltaSld", 0) > 0
                    and m.get("sBrkrStatus") == "Closed")
        seen = asyncio.run(collect(s.base, stream, "SpdrAutoHedgeState", seconds=90,
                                   recv_timeout=30, stop=hedged))
        assert seen and hedged(seen[-1]), seen[-3:]
        last = seen[-1]
        # the option fill, before the hedge (activeLatency 1, not 100: a state that lasts a few ms
        # is not conflated into the next within a 100 ms send cycle)
        assert any(_state_name(m) == "BandLn" for m in seen)
        assert abs(last["netDelta"]) < 1  # HedgeToZero: under one share
        assert abs(last["netDDelta"]) <= BAND
        # the hedge order and its fills are ordinary records of the account
        orders = [o for o in msgs(s.get(cmd="getmsgs", msgType="SpdrParentOrder",
                                        where=f"accnt:eq:{ACCNT}"), "SpdrParentOrder")
                  if o.get("spdrSource") == "AutoHedge"]
        assert orders and all(o["secType"] == "Stock" and o["orderSide"] == "Sell"
                              for o in orders)
        fills = msgs(s.get(cmd="getmsgs", msgType="SpdrParentExecution",
                           where=f"accnt:eq:{ACCNT} & secType:eq:Stock"), "SpdrParentExecution")
        sold = sum(f["fillQuantity"] for f in fills)
        assert sold == last["ctrlDeltaSld"]
        stk = wait_for(lambda: [p for p in msgs(s.get(
            cmd="getmsgs", msgType="StockPositionRecordV5", where=f"accnt:eq:{ACCNT}"),
            "StockPositionRecordV5") if p.get("shSld") == sold], 10)
        assert stk, "the stock position does not show the hedge"
        sym = msgs(s.get(cmd="getmsgs", msgType="SymbolRiskSummaryV5",
                         where=f"accnt:eq:{ACCNT}"), "SymbolRiskSummaryV5")
        aapl = [x for x in sym if x["pkey"]["ticker"]["tk"] == "AAPL"]
        assert aapl and aapl[0].get("shSld") == sold
        # the option's delta against the stock sold: far smaller than the unhedged delta
        assert abs(aapl[0]["delta"]) < 0.25 * sold, (aapl[0]["delta"], sold)
    finally:
        stop_server(s)
