"""Computed-on-read types (LiveImpliedQuoteAdj, OptionTheoVol) stream like stored ones, sans I/O:
a stream with activeLatency > 0 gets a fresh record when the record's inputs change (the parent
LiveImpliedQuote row, the underlier price, the theo surface), conflated per cycle, without any
MLinkSignalReady; REST reads see the same values."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.sansio import Client, SansIO, kinds

EXPIRY = "2025-03-21"


class Rig(SansIO):
    """The sans-I/O platform with one logged-on session."""

    def __init__(self) -> None:
        super().__init__()
        self.c: Client = self.client()

    def liq(self, tk: str, strike: float, u: float, **f: Any) -> None:
        okey = f"{tk}-NMS-EQT-{EXPIRY}-{strike:g}-C"
        self.put("LiveImpliedQuote", {"pkey": {"okey": okey}, "ticker": f"{tk}-NMS-EQT", "uPrc": u,
                                      "oBid": 5.0, "oAsk": 5.4, "oBidIv": 0.25, "oAskIv": 0.27,
                                      "sVol": 0.26, "sPrc": 5.2, "sMark": 5.2, "de": 0.5,
                                      "ga": 0.02, "ve": 0.3, "years": 0.2, **f})

    def send(self, mtype: str, **message: Any) -> None:
        self.c.send(mtype, **message)

    def pull(self) -> list[dict[str, Any]]:
        return self.c.pull()

    @property
    def session(self) -> Any:
        return self.c.session

    def rest(self, **params: str) -> list[dict[str, Any]]:
        return self.get(cmd="getmsgs", **params)


def _data(msgs: list[dict[str, Any]], name: str) -> dict[str, dict[str, Any]]:
    """Records of ``name`` by okey text (the last one of each key)."""
    out = {}
    for m in msgs:
        if m["header"]["mTyp"] == name:
            o = m["message"]["pkey"]["okey"]
            out[f"{o['tk']}-{o['xx']:g}"] = m["message"]
    return out


@pytest.fixture
def adj_rig() -> Rig:
    r = Rig()
    r.stock("AAPL", 199.9, 200.1)
    r.stock("MSFT", 399.9, 400.1)
    for k in (190, 200, 210):
        r.liq("AAPL", k, 200.0)
    r.liq("MSFT", 400, 400.0)
    return r


def _stream_adj(r: Rig, latency: int = 100) -> dict[str, dict[str, Any]]:
    r.send("MLinkStream", msgName="LiveImpliedQuoteAdj", activeLatency=latency, queryID=7)
    msgs = r.pull()
    assert kinds(msgs)[:2] == ["MLinkStreamAck", "Begin"] and kinds(msgs)[-2:] == ["Active", "Complete"]
    return _data(msgs, "LiveImpliedQuoteAdj")


def test_adj_stream_follows_the_underlier_without_a_signal(adj_rig):
    r = adj_rig
    snap = _stream_adj(r)
    assert set(snap) == {"AAPL-190", "AAPL-200", "AAPL-210", "MSFT-400"}
    assert snap["AAPL-200"]["uprc"] == pytest.approx(200.0)
    r.advance(100)
    assert r.pull() == []  # nothing moved: nothing sent
    r.stock("AAPL", 201.9, 202.1)  # +2
    assert r.session.has_work(r.clock.time_ns())  # the input change wakes the stream
    got = _data(r.pull(), "LiveImpliedQuoteAdj")
    assert set(got) == {"AAPL-190", "AAPL-200", "AAPL-210"}  # every AAPL row, no MSFT row
    rec = got["AAPL-200"]
    assert rec["uprc"] == pytest.approx(202.0)
    assert rec["de"] == pytest.approx(0.5 + 0.02 * 2)
    move = 0.5 * 2 + 0.5 * 0.02 * 4
    assert rec["sprc"] == pytest.approx(5.2 + move)
    assert rec["obiv"] == pytest.approx(0.25 - move / 30.0)
    assert rec["uPrcAdjResult"] == "OK"
    # a REST read gives the same record
    rest = _data(r.rest(msgType="LiveImpliedQuoteAdj", where="okey.tk:eq:AAPL"), "LiveImpliedQuoteAdj")
    assert rest["AAPL-200"] == rec


def test_adj_stream_conflates_moves_within_a_cycle_and_waits_for_the_cycle(adj_rig):
    r = adj_rig
    _stream_adj(r, latency=100)
    r.stock("AAPL", 200.9, 201.1)
    first = _data(r.pull(), "LiveImpliedQuoteAdj")  # the first change after the snapshot goes now
    assert first["AAPL-200"]["uprc"] == pytest.approx(201.0)
    r.advance(10)
    r.stock("AAPL", 201.9, 202.1)
    r.stock("AAPL", 202.9, 203.1)
    assert r.pull() == []  # the next cycle is not due yet
    r.advance(90)
    got = r.pull()
    assert [m["message"]["uprc"] for m in got if m["header"]["mTyp"] == "LiveImpliedQuoteAdj"
            and m["message"]["pkey"]["okey"]["xx"] == 200] == [pytest.approx(203.0)]
    assert len(got) == 3  # one record per key, its latest state


def test_adj_stream_sends_a_changed_parent_row_only(adj_rig):
    r = adj_rig
    _stream_adj(r)
    r.advance(100)
    r.liq("AAPL", 210, 200.0, sVol=0.3, oBidIv=0.28)
    got = _data(r.pull(), "LiveImpliedQuoteAdj")
    assert list(got) == ["AAPL-210"]
    assert got["AAPL-210"]["svol"] == pytest.approx(0.3)
    # a parent rewritten with the same values sends nothing
    r.advance(100)
    r.liq("AAPL", 210, 200.0, sVol=0.3, oBidIv=0.28)
    assert _data(r.pull(), "LiveImpliedQuoteAdj") == {}


def test_adj_stream_with_a_where_clause_sees_only_its_rows(adj_rig):
    r = adj_rig
    r.send("MLinkStream", msgName="LiveImpliedQuoteAdj", activeLatency=100,
           where="okey.tk:eq:MSFT")
    assert set(_data(r.pull(), "LiveImpliedQuoteAdj")) == {"MSFT-400"}
    r.advance(100)
    r.stock("AAPL", 201.9, 202.1)
    assert _data(r.pull(), "LiveImpliedQuoteAdj") == {}
    r.advance(100)
    r.stock("MSFT", 409.9, 410.1)
    got = _data(r.pull(), "LiveImpliedQuoteAdj")
    assert list(got) == ["MSFT-400"] and got["MSFT-400"]["uprc"] == pytest.approx(410.0)


def test_adj_is_not_computed_while_nobody_reads_it(adj_rig):
    r = adj_rig
    for i in range(5):
        r.stock("AAPL", 200.9 + i, 201.1 + i)
    assert r.adjuster.refreshed == 0
    _stream_adj(r)
    assert r.adjuster.refreshed == 4


def test_adj_subscription_by_key_follows_the_underlier(adj_rig):
    r = adj_rig
    r.send("MLinkSubscribe", activeLatency=100,
           Subscribe=[{"msgName": "LiveImpliedQuoteAdj", "msgPKey": f"AAPL-NMS-EQT-{EXPIRY}-200-C"}])
    first = _data(r.pull(), "LiveImpliedQuoteAdj")
    assert first["AAPL-200"]["uprc"] == pytest.approx(200.0)
    r.advance(100)
    r.stock("AAPL", 204.9, 205.1)
    got = _data(r.pull(), "LiveImpliedQuoteAdj")
    assert list(got) == ["AAPL-200"] and got["AAPL-200"]["uprc"] == pytest.approx(205.0)


def test_adj_record_goes_when_its_parent_is_deleted(adj_rig):
    r = adj_rig
    assert "AAPL-190" in _data(r.rest(msgType="LiveImpliedQuoteAdj"), "LiveImpliedQuoteAdj")
    r.delete("LiveImpliedQuote", {"pkey": {"okey": f"AAPL-NMS-EQT-{EXPIRY}-190-C"}})
    got = _data(r.rest(msgType="LiveImpliedQuoteAdj"), "LiveImpliedQuoteAdj")
    assert set(got) == {"AAPL-200", "AAPL-210", "MSFT-400"}


# ---------------------------------------------------------------------------- OptionTheoVol
SVI = {"paramA": 0.01, "paramB": 0.05, "paramC": -0.5, "paramD": 0.0, "paramE": 0.1}
EKEY = f"AAPL-NMS-EQT-{EXPIRY}"


@pytest.fixture
def theo_rig() -> Rig:
    r = Rig()
    for tk, px in (("AAPL", 200.0), ("MSFT", 400.0)):
        r.put("RootDefinition", {"pkey": {"root": f"{tk}-NMS-EQT"}, "ticker": f"{tk}-NMS-EQT",
                                 "exerciseType": "European", "pointValue": 100.0, "symbolRatio": 1.0,
                                 "pricingModel": "Equity"})
        r.put("OptExpiryDefinition", {"pkey": {"ekey": f"{tk}-NMS-EQT-{EXPIRY}"},
                                      "expiration": f"{EXPIRY} 21:00:00.000000"})
        r.stock(tk, px - 0.1, px + 0.1)
        for k in (0.9 * px, px, 1.1 * px):
            for cp in ("C", "P"):
                r.put("OptionNbboQuote", {"pkey": {"okey": f"{tk}-NMS-EQT-{EXPIRY}-{k:g}-{cp}"},
                                          "bidPrice": 5.0, "askPrice": 5.4})
    _surface(r)
    return r


def _surface(r: Rig, model: str = "M1", **fields: Any) -> None:
    r.put("SpdrTheoExpSurface", {"pkey": {"ekey": EKEY, "theoModel": model, "clientFirm": "F1"},
                                 "skewFunc": "SVI", "theoStatus": "Auto", "refUPrcWeight": 0.0,
                                 **SVI, **fields})


def _otv(msgs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for m in msgs:
        if m["header"]["mTyp"] == "OptionTheoVol":
            o = m["message"]["pkey"]["okey"]
            out[f"{o['xx']:g}{o['cp'][0]}"] = m["message"]
    return out


def _stream_otv(r: Rig, where: str = "theoModel:eq:M1") -> dict[str, dict[str, Any]]:
    r.send("MLinkStream", msgName="OptionTheoVol", activeLatency=100, where=where)
    msgs = r.pull()
    assert kinds(msgs)[0] == "MLinkStreamAck" and msgs[0]["message"]["result"] == "OK"
    assert kinds(msgs)[-1] == "Complete"
    return _otv(msgs)


def test_theo_stream_follows_the_underlier_without_a_signal(theo_rig):
    r = theo_rig
    snap = _stream_otv(r)
    assert len(snap) == 6 and all(m["uprc"] == pytest.approx(200.0) for m in snap.values())
    r.advance(100)
    assert r.pull() == []  # nothing moved: nothing sent
    r.stock("MSFT", 409.9, 410.1)
    r.advance(100)
    assert r.pull() == []  # another underlier: not an input of M1's rows
    r.stock("AAPL", 209.9, 210.1)
    r.advance(100)
    got = _otv(r.pull())
    assert set(got) == set(snap)
    for key, m in got.items():  # sticky delta: the smile moved with the underlier
        assert m["uprc"] == pytest.approx(210.0)
        assert m["tvol"] != pytest.approx(snap[key]["tvol"], abs=1e-6)
    rest = _otv(r.rest(msgType="OptionTheoVol", where="theoModel:eq:M1"))
    assert rest["200C"]["tvol"] == got["200C"]["tvol"] and rest["200C"]["uprc"] == got["200C"]["uprc"]


def test_theo_stream_follows_the_surface_record(theo_rig):
    r = theo_rig
    snap = _stream_otv(r)
    r.advance(100)
    _surface(r, paramA=0.02)  # more variance everywhere
    got = _otv(r.pull())
    assert set(got) == set(snap)
    assert all(got[k]["tvol"] > snap[k]["tvol"] for k in got)
    # an option quote change refreshes its expiry: the new quote is sent
    r.advance(100)
    r.put("OptionNbboQuote", {"pkey": {"okey": f"{EKEY}-200-C"}, "bidPrice": 6.0, "askPrice": 6.2})
    got = _otv(r.pull())
    assert got["200C"]["obid"] == 6.0 and got["200C"]["oask"] == pytest.approx(6.2)


def test_theo_stream_of_one_model_ignores_another_models_surface(theo_rig):
    r = theo_rig
    _stream_otv(r)
    r.advance(100)
    r.put("SpdrTheoExpSurface", {"pkey": {"ekey": f"MSFT-NMS-EQT-{EXPIRY}", "theoModel": "M2",
                                          "clientFirm": "F1"}, "skewFunc": "SVI", **SVI})
    assert _otv(r.pull()) == {}


def test_theo_stream_and_subscription_need_the_model(theo_rig):
    r = theo_rig
    r.send("MLinkStream", msgName="OptionTheoVol", activeLatency=100)
    ack = r.pull()[0]["message"]
    assert ack["result"] == "Error" and "theoModel" in ack["detail"]
    r.send("MLinkSubscribe", activeLatency=100,
           Subscribe=[{"msgName": "OptionTheoVol", "msgPKey": f"{EKEY}-200-C"}])
    ack = r.pull()[0]["message"]
    assert ack["Subscribe"][0]["result"] == "InvldMsgType"
    assert "theoModel" in ack["Subscribe"][0]["detail"]
