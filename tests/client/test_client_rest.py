"""The synchronous REST client against a real ``openmlink serve``: every command, errors,
DataFrame shapes."""

from __future__ import annotations

import pytest

from openmlink.client import MLinkClient, MLinkConnectionError, MLinkError
from tests.conftest import API_KEY, free_port

SPAN = "SpanRiskCalculator"


def test_get_msgs_where_order_limit_and_frame_shape(lite):
    ml = MLinkClient(lite.url, API_KEY)
    recs = ml.get_msgs("OptionNbboQuote", where="okey.tk:eq:SPY & bidPrice:gt:1",
                       order="bidPrice:DESC", limit=25, view="bidPrice|askPrice")
    assert len(recs) == 25
    bids = [r["bidPrice"] for r in recs]
    assert bids == sorted(bids, reverse=True) and min(bids) > 1
    assert all(r["pkey"]["okey"]["tk"] == "SPY" for r in recs)
    df = ml.get_msgs_df("OptionNbboQuote", where="okey.tk:eq:SPY & bidPrice:gt:1",
                        order="bidPrice:DESC", limit=25, view="bidPrice|askPrice")
    assert df.shape == (25, 8)
    assert list(df.columns) == ["okey_at", "okey_ts", "okey_tk", "okey_dt", "okey_xx", "okey_cp",
                                "bidPrice", "askPrice"]
    # a second read of a live market: its own order and filter, not the first read's values
    df_bids = df["bidPrice"].tolist()
    assert df_bids == sorted(df_bids, reverse=True) and min(df_bids) > 1
    assert set(df["okey_tk"]) == {"SPY"}


def test_get_msg_count_and_aggregate_agree(lite):
    ml = MLinkClient(lite.url, API_KEY)
    where = "ticker.tk:eq:AAPL"
    n = ml.count("StockBookQuote", where=where)
    assert n == 1 == len(ml.get_msgs("StockBookQuote", where=where))
    one = ml.get_msg("StockBookQuote", "AAPL-NMS-EQT")
    assert one is not None and one["pkey"]["ticker"]["tk"] == "AAPL"
    assert ml.get_msg("StockBookQuote", "NOPE-NMS-EQT") is None
    per_tk = ml.aggregate("OptionNbboQuote", "bidPrice", group="okey.tk")
    counts = {c["key1"]: c["recCount"] for c in per_tk["AggregateCount"]}
    assert counts["SPY"] == ml.count("OptionNbboQuote", where="okey.tk:eq:SPY")
    assert sum(counts.values()) == ml.count("OptionNbboQuote")


def test_schema_and_msg_types(lite):
    ml = MLinkClient(lite.url, API_KEY)
    fields = ml.schema("LiveImpliedQuote")
    names = [f["name"] for f in fields]
    assert names[:2] == ["okey", "ticker"] and "sVol" in names
    assert [f["pos"] for f in fields] == list(range(1, len(fields) + 1))
    types = {t["name"] for t in ml.msg_types(view="name|mNum")}
    assert {"LiveImpliedQuote", "SpdrParentOrder", "QueryResult"} <= types


def test_post_read_back_delete_and_refusals(lite):
    ml = MLinkClient(lite.url, API_KEY)
    body = {"pkey": {"secKey": "CLI-NMS-EQT-2026-01-16-100-C", "secType": "Option",
                     "userName": "client"}, "vol": 0.3, "volSrc": "User", "uPrc": 99.0,
            "uPrcSrc": "User"}
    [ack] = ml.post(body, msg_type=SPAN, check=True)
    assert ack["result"] == "OK" and ack["pkey"].startswith("CLI-NMS-EQT-2026-01-16-100-C")
    got = ml.get_msgs_df(SPAN, where="pkey.userName:eq:client", view="vol|uPrc")
    assert got[["secKey_tk", "vol", "uPrc"]].values.tolist() == [["CLI", 0.3, 99.0]]
    # an envelope with a bad field: the ack says which, check=True raises it
    bad = {"header": {"mTyp": SPAN}, "message": {**body, "vol": "high"}}
    [nack] = ml.post([bad])
    assert nack["result"] != "OK" and "vol" in nack["detail"]
    with pytest.raises(MLinkError, match="vol") as e:
        ml.post([bad], check=True)
    assert e.value.record == "PostAck"
    ml.post(body, msg_type=SPAN, action="D", check=True)
    assert ml.count(SPAN, where="pkey.userName:eq:client") == 0
    with pytest.raises(ValueError, match="msg_type"):
        ml.post(body)


def test_errors_name_the_parameter(lite):
    ml = MLinkClient(lite.url, API_KEY)
    with pytest.raises(MLinkError, match="nosuchfield") as e:
        ml.get_msgs("StockBookQuote", where="nosuchfield:eq:1")
    assert e.value.result == "Error"
    with pytest.raises(MLinkError) as e:
        MLinkClient(lite.url, "BAD0-0000-0000-0000").count("StockBookQuote")
    assert e.value.result == "AuthError"
    with pytest.raises(MLinkConnectionError):
        MLinkClient(f"http://127.0.0.1:{free_port()}", API_KEY, timeout=5).count("StockBookQuote")


def test_url_forms():
    from openmlink.client import Endpoint

    e = Endpoint("wss://example.org/mlink/json")
    assert e.rest() == "https://example.org/rest/json"
    assert e.websocket("jsonf") == "wss://example.org/mlink/jsonf"
    assert Endpoint("127.0.0.1:8080").websocket() == "ws://127.0.0.1:8080/mlink/json"
    with pytest.raises(ValueError):
        Endpoint("ftp://x")
