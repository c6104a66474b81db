"""Execution revisions (trading.md §1.5): +1m/+10m marks, busts and corrections -- the
execution republished with version+1, the broker's fill accounting and risk counters redone,
journaled and restored exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from openmlink.clock import SimClock
from openmlink.trading.venue import VenueConfig
from tests.support.trading import TradingRig, check_invariants

BS, EX, RGC = "SpdrParentBrkrState", "SpdrParentExecution", "RiskGroupCounter"
S = 1_000  # ms


def _market(r: TradingRig, bid: float = 4.9, ask: float = 5.1, asz: int = 20, *,
            mark: float | None = None, uprc: float = 200.0, atm: float = 0.31) -> None:
    r.stock("AAPL", uprc - 0.1, uprc + 0.1)
    okey = r.option("AAPL", 200, "Put", bid, ask, asz=asz, spx=mark, uprc=uprc)
    r.put("LiveImpliedQuote", {"pkey": {"okey": okey}, "atmVol": atm}, merge=True)


def _fills(r: TradingRig) -> dict[int, dict[str, Any]]:
    t = r.store.table(r.reg[EX])
    return {rec["fillNumber"]: rec for rec in (t.record(int(i)) for i in t.live_rows())}


def _versions(r: TradingRig, fn: int) -> list[dict[str, Any]]:
    return [rec for rec in r.published(EX) if rec["fillNumber"] == fn]


def _status(r: TradingRig, rec: dict[str, Any]) -> str:
    return r.name(EX, "execStatus", rec["execStatus"])


def _group_dd(r: TradingRig) -> float:
    t = r.store.table(r.reg[RGC])
    return sum(c["ddBotIocFilled"] - c["ddSldIocFilled"]
               for c in (t.record(int(i)) for i in t.live_rows()))


def test_marks_at_one_and_ten_minutes_carry_the_market_then() -> None:
    r = TradingRig()
    _market(r)
    o = r.order(orderPrcLimit=5.2, orderSize=4)
    r.advance(5, 5)
    (fn, f), = _fills(r).items()
    assert f["version"] == 1 and f["fillState1M"] == 0
    t_fill = f["fillDttm"]
    _market(r, 5.4, 5.6, mark=5.45, uprc=198.0, atm=0.33)  # the market a minute later
    r.advance(59 * S)
    assert _fills(r)[fn]["version"] == 1  # not due yet
    r.advance(1.5 * S)
    m1 = _fills(r)[fn]
    assert m1["version"] == 2 and r.name(EX, "fillState1M", m1["fillState1M"]) == "OK"
    assert (m1["fillBid1M"], m1["fillAsk1M"], m1["fillMark1M"]) == (5.4, 5.6, 5.45)
    assert m1["fillUMark1M"] == 198.0 and m1["fillVolAtm1M"] == pytest.approx(0.33)
    assert m1["fillState10M"] == 0 and m1["fillMark10M"] == 0
    assert (m1["fillQuantity"], m1["fillPrice"], _status(r, m1)) == (f["fillQuantity"],
                                                                     f["fillPrice"], "Fill")
    _market(r, 4.0, 4.2, mark=4.1, uprc=203.0, atm=0.29)
    r.clock.advance_to(t_fill + 600 * 10**9 - 1)
    r.engine.tick()
    assert _fills(r)[fn]["version"] == 2
    r.advance(1)
    m10 = _fills(r)[fn]
    assert m10["version"] == 3 and r.name(EX, "fillState10M", m10["fillState10M"]) == "OK"
    assert (m10["fillBid10M"], m10["fillAsk10M"], m10["fillMark10M"]) == (4.0, 4.2, 4.1)
    assert m10["fillUMark10M"] == 203.0 and m10["fillVolAtm10M"] == pytest.approx(0.29)
    assert m10["fillMark1M"] == 5.45  # the +1m mark stays
    assert [v["version"] for v in _versions(r, fn)] == [1, 2, 3]
    assert not r.engine.manager.execs.recent and not r.engine.manager.execs.heap
    # nothing else changed: the order's state still counts the fill once
    assert r.state(o["parentNumber"])["cumFillQuantity"] == 4
    check_invariants(r)


def test_bust_of_a_filled_order_takes_the_quantity_and_risk_off_and_it_stays_closed() -> None:
    r = TradingRig()
    _market(r)
    o = r.order(orderPrcLimit=5.2, orderSize=4)
    r.advance(5, 5)
    st = r.state(o["parentNumber"])
    assert r.name(BS, "spdrOrderStatus", st["spdrOrderStatus"]) == "Closed"
    dd0 = _group_dd(r)
    assert dd0 != 0
    (fn, _f), = _fills(r).items()
    assert r.engine.manager.adjust_fill(fn, None) is None
    b = _fills(r)[fn]
    assert (b["version"], _status(r, b), b["cumFillQuantity"]) == (2, "Bust", 0)
    st = r.state(o["parentNumber"])
    assert (st["cumFillQuantity"], st["avgFillPrice"]) == (0, 0.0)
    assert r.name(BS, "spdrOrderStatus", st["spdrOrderStatus"]) == "Closed"  # stays closed
    assert _group_dd(r) == pytest.approx(0.0, abs=1e-9)
    # a second bust is refused, as is a correction of a busted fill and an unknown fill
    assert "busted already" in (r.engine.manager.adjust_fill(fn, None) or "")
    assert "busted already" in (r.engine.manager.adjust_fill(fn, 5.0) or "")
    assert "no such execution" in (r.engine.manager.adjust_fill(fn + 99, None) or "")
    assert "positive" in (r.engine.manager.adjust_fill(fn, -1.0) or "")
    r.advance(61 * S)  # a busted fill is marked no more
    assert [v["version"] for v in _versions(r, fn)] == [1, 2]
    check_invariants(r, quiescent=True)


def test_bust_of_a_working_order_works_the_quantity_again_and_correct_moves_the_average() -> None:
    r = TradingRig()
    _market(r, asz=3)
    o = r.order(orderPrcLimit=5.2, orderSize=10)
    r.advance(5, 5)
    _market(r, asz=3)  # a fresh quote: 3 more
    r.advance(5, 5)
    fills = sorted(_fills(r))
    assert len(fills) == 2
    st = r.state(o["parentNumber"])
    assert st["cumFillQuantity"] == 6
    m = r.engine.manager
    assert m.adjust_fill(fills[0], 5.0) is None  # corrected 5.10 -> 5.00
    c = _fills(r)[fills[0]]
    assert (_status(r, c), c["fillPrice"], c["version"]) == ("Correct", 5.0, 2)
    st = r.state(o["parentNumber"])
    assert st["cumFillQuantity"] == 6
    assert st["avgFillPrice"] == pytest.approx((3 * 5.0 + 3 * 5.1) / 6, abs=1e-12)
    assert m.adjust_fill(fills[1], None) is None
    st = r.state(o["parentNumber"])
    assert (st["cumFillQuantity"], st["avgFillPrice"]) == (3, pytest.approx(5.0, abs=1e-12))
    assert r.name(BS, "spdrOrderStatus", st["spdrOrderStatus"]) == "New"
    assert st["leavesQuantity"] + st["cumFillQuantity"] <= 10
    for _ in range(3):  # the busted 3 are worked again: 7 more to reach 10
        _market(r, asz=50)
        r.advance(5, 5)
    st = r.state(o["parentNumber"])
    assert st["cumFillQuantity"] == 10
    assert r.name(BS, "spdrOrderStatus", st["spdrOrderStatus"]) == "Closed"
    check_invariants(r, quiescent=True)


def test_venue_busts_and_corrects_at_the_configured_rate_and_invariants_hold() -> None:
    r = TradingRig(venue=VenueConfig(prob_bust=0.3, prob_correct=0.3,
                                     adjust_delay_ns=2 * 10**9, partial_fill_max_pieces=3))
    for i in range(6):
        _market(r, asz=4)
        r.order(orderPrcLimit=5.2, orderSize=8, groupingCode=f"0000-0000-0000-000{i + 1}",
                orderSide="Buy" if i % 2 else "Sell", orderActiveSize=-1)
        r.advance(5, 5)
    r.advance(3 * S, 3)
    kinds = {_status(r, f) for f in _fills(r).values()}
    assert {"Bust", "Correct"} <= kinds, kinds
    check_invariants(r)


def test_default_venue_never_busts() -> None:
    r = TradingRig()
    _market(r)
    r.order(orderPrcLimit=5.2, orderSize=8)
    r.advance(5, 5)
    r.advance(120 * S)
    assert {_status(r, f) for f in _fills(r).values()} == {"Fill"}


def test_restart_takes_a_mark_due_while_down_and_keeps_a_bust(tmp_path: Path) -> None:
    r1 = TradingRig(data_dir=tmp_path)
    _market(r1, asz=3)
    o = r1.order(orderPrcLimit=5.2, orderSize=10)
    r1.advance(5, 5)
    _market(r1, asz=3)
    r1.advance(5, 5)
    f1, f2 = sorted(_fills(r1))
    assert r1.engine.manager.adjust_fill(f2, None) is None
    st1 = r1.state(o["parentNumber"])
    assert st1["cumFillQuantity"] == 3
    t_fill = _fills(r1)[f1]["fillDttm"]
    # the process dies; it comes back 90 s after the fill (the +1m mark fell due meanwhile)
    clock = SimClock(t_fill + 90 * 10**9)
    r2 = TradingRig(data_dir=tmp_path, clock=clock)
    fills = _fills(r2)
    assert (fills[f1]["version"], fills[f2]["version"]) == (1, 2)
    assert _status(r2, fills[f2]) == "Bust"
    st2 = r2.state(o["parentNumber"])
    assert (st2["cumFillQuantity"], st2["avgFillPrice"]) == (3, st1["avgFillPrice"])
    _market(r2, 5.3, 5.5, asz=0, mark=5.35)
    r2.advance(20)
    m1 = _fills(r2)[f1]
    assert m1["version"] == 2 and m1["fillMark1M"] == 5.35  # the market at the restart
    assert _fills(r2)[f2]["version"] == 2  # a busted fill: no mark
    # a second restart neither repeats nor loses it; the +10m mark is still owed
    r3 = TradingRig(data_dir=tmp_path, clock=SimClock(clock.time_ns()))
    assert _fills(r3)[f1]["version"] == 2
    assert r3.engine.manager.execs.heap[0][:3] == (t_fill + 600 * 10**9, f1, 2)
    # the risk counters came back as the bust left them (one fill of 3 charged)
    dd = r3.engine.manager.risk.groups
    (_g, cnt), = dd.items()
    assert cnt.qty_bot - cnt.qty_sld == pytest.approx(3.0)


def _post(api: Any, key: str, msg: dict[str, Any], action: str = "U") -> dict[str, Any]:
    import json

    _status_code, body = api.handle("POST", [("cmd", "postmsgs"), ("postaction", action),
                                             ("apiKey", key)], {},
                                    json.dumps([{"header": {"mTyp": EX}, "message": msg}]).encode())
    out = json.loads(body)
    acks = [m["message"] for m in out if m["header"]["mTyp"] == "PostAck"]
    assert len(acks) == 1, out
    return acks[0]


def test_an_operator_key_busts_and_corrects_through_postmsgs_others_may_not() -> None:
    from openmlink.gateway import ApiKeys
    from openmlink.gateway._auth import Principal
    from openmlink.gateway._rest import RestApi

    r = TradingRig()
    _market(r, asz=3)
    o = r.order(orderPrcLimit=5.2, orderSize=10)
    r.advance(5, 5)
    _market(r, asz=3)
    r.advance(5, 5)
    f1, f2 = sorted(_fills(r))
    keys = ApiKeys()
    keys.add(Principal(key="OPER-0000-0000-0001", user_name="ops", admin=True))
    keys.add(Principal(key="USER-0000-0000-0001", user_name="trader", client_firm="SRCORE"))
    keys.add(Principal(key="OPER-0000-0000-0002", user_name="ops2", client_firm="OTHER",
                       admin=True))
    api = RestApi(r.reg, r.store, r.bus, keys, r.clock)
    fnx = f"{f1:016X}"
    fn_text = "-".join(fnx[i:i + 4] for i in range(0, 16, 4))
    bust = {"pkey": {"fillNumber": fn_text}, "execStatus": "Bust"}
    # a trader's key may not touch executions
    ack = _post(api, "USER-0000-0000-0001", bust)
    assert ack["result"] == "AuthError" and "published by the server" in ack["detail"]
    # an operator of another firm may not either; a bad request changes nothing
    ack = _post(api, "OPER-0000-0000-0002", bust)
    assert ack["result"] == "AuthError" and "client firm" in ack["detail"], ack
    ack = _post(api, "OPER-0000-0000-0001", {**bust, "fillQuantity": 1})
    assert ack["result"] == "OtherError" and "fillQuantity" in ack["detail"], ack
    ack = _post(api, "OPER-0000-0000-0001", {"pkey": {"fillNumber": fn_text},
                                             "execStatus": "Correct"})
    assert "fillPrice" in ack["detail"], ack
    assert _fills(r)[f1]["version"] == 1
    # the operator corrects one fill and busts it
    ack = _post(api, "OPER-0000-0000-0001", {"pkey": {"fillNumber": fn_text},
                                             "execStatus": "Correct", "fillPrice": 5.0})
    assert ack["result"] == "OK", ack
    c = _fills(r)[f1]
    assert (_status(r, c), c["fillPrice"], c["version"]) == ("Correct", 5.0, 2)
    assert r.state(o["parentNumber"])["avgFillPrice"] == pytest.approx(5.05, abs=1e-12)
    ack = _post(api, "OPER-0000-0000-0001", bust)
    assert ack["result"] == "OK", ack
    b = _fills(r)[f1]
    assert (_status(r, b), b["version"], b["fillQuantity"]) == ("Bust", 3, 3)
    assert r.state(o["parentNumber"])["cumFillQuantity"] == 3
    ack = _post(api, "OPER-0000-0000-0001", bust)
    assert ack["result"] == "OtherError" and "busted already" in ack["detail"], ack
    assert _fills(r)[f2]["version"] == 1
    check_invariants(r)


def test_served_positions_follow_marks_once_and_busts() -> None:
    r = TradingRig.served(None)
    _market(r)
    r.order(orderPrcLimit=5.2, orderSize=4)
    r.advance(5, 5)
    pos = r.store.table(r.reg["OptionPositionRecordV5"])

    def cn_bot() -> int:
        return sum(rec["cnBot"] for rec in (pos.record(int(i)) for i in pos.live_rows()))

    assert cn_bot() == 4
    r.advance(61 * S)  # the +1m mark: version 2 of the same fill counts once
    (fn, f), = _fills(r).items()
    assert f["version"] == 2 and cn_bot() == 4
    assert r.engine.manager.adjust_fill(fn, None) is None
    assert cn_bot() == 0
