"""Group risk on auction orders (trading.md §1.9 applied to §3): the initiating order must fit
its risk group's maxGrpDay* headroom and its group must not be disabled (SpdrRiskGroupControl),
at the start and again at the cross; responses of a disabled group are refused or left out.
Every refusal says which limit and what to do."""

from __future__ import annotations

from openmlink.trading import AuctionConfig
from tests.support.auctions import AuctionRig
from tests.support.trading import ACCNT, ORIGIN, check_invariants

BS, BE, EX = "SpdrParentBrkrState", "SpdrParentBrkrEvent", "SpdrParentExecution"
GROUP = "0000-0000-0000-0007"


def rig() -> AuctionRig:
    r = AuctionRig(AuctionConfig(sim_responders=0))
    r.stock("AAPL", 199.9, 200.1)
    r.option("AAPL", 200, "Put", 4.9, 5.1, bsz=20, asz=20)
    return r


def auction(r: AuctionRig, kind: str = "BlockAuction", **fields: object) -> dict:
    base = {"parentOrderHandling": kind, "orderSide": "Sell", "orderPrcLimit": 4.9,
            "orderSize": 100, "takeReachRule": "UpToQty", "progressRule": "AllowImmediate",
            "activeDuration": 5, "riskGroupId": GROUP}
    base.update(fields)
    return r.order(**base)


def control(r: AuctionRig, disabled: str, accnt: str = ACCNT, firm: str = "SRCORE",
            group: str = GROUP) -> None:
    r.put("SpdrRiskGroupControl", {"riskGroupId": group, "accnt": accnt, "riskFirm": firm,
                                   "isDisabled": disabled}, origin=ORIGIN)


def rejection(r: AuctionRig, o: dict) -> tuple[str, str, str]:
    st = r.state(o["parentNumber"])
    ev = [e for e in r.published(BE) if e["parentNumber"] == o["parentNumber"]][-1]
    return (r.name(BS, "spdrOrderStatus", st["spdrOrderStatus"]),
            r.name(BE, "spdrRejectReason", ev["spdrRejectReason"]), ev["spdrComment"])


def test_an_auction_bigger_than_the_group_headroom_is_refused_saying_what_to_do() -> None:
    r = rig()
    o = auction(r, maxGrpDayContractsSh=60)
    status, reason, text = rejection(r, o)
    assert (status, reason) == ("Rejected", "OptQty")
    assert "maxGrpDayContractsSh 60" in text and "lower orderSize to 60" in text
    assert r.published("AuctionNotice") == []  # no auction started
    ok = auction(r, maxGrpDayContractsSh=100, accnt="T.OTHER")
    assert r.notice_of(ok["parentNumber"]) != 0


def test_a_disabled_group_cannot_start_an_auction() -> None:
    r = rig()
    control(r, "Yes")
    status, reason, text = rejection(r, auction(r))
    assert (status, reason) == ("Rejected", "OptDisabled")
    assert "SpdrRiskGroupControl" in text and "isDisabled No" in text


def test_the_cross_is_checked_against_the_headroom_left_by_earlier_fills() -> None:
    """Two auctions in one group of 100 contracts short: the first crosses 60, the second
    (60 more) would breach the limit, so it does not cross and ends CrossFailed saying so."""
    r = rig()
    first = auction(r, "FlashAuction", orderSize=60, maxGrpDayContractsSh=100)
    second = auction(r, orderSize=60, maxGrpDayContractsSh=100, accnt=ACCNT,
                     groupingCode="0000-0000-0000-0002", progressRule="None", activeDuration=3)
    n1, n2 = r.notice_of(first["parentNumber"]), r.notice_of(second["parentNumber"])
    assert r.respond(n1, accnt="R1", firm="F1", size=60, price=4.95) is None
    assert r.respond(n2, accnt="R2", firm="F2", size=60, price=4.95) is None
    for _ in range(5):
        r.advance(1000, 1)
    fills = {f["parentNumber"]: f["fillQuantity"] for f in r.published(EX)
             if f["accnt"] == ACCNT}
    assert fills == {first["parentNumber"]: 60}
    st = r.state(second["parentNumber"])
    assert r.name(BS, "spdrCloseReason", st["spdrCloseReason"]) == "CrossFailed"
    assert "maxGrpDayContractsSh 100" in st["spdrComment"] and "would breach" in st["spdrComment"]
    assert r.status_names(n2)[-3:] == ["FinalTrial", "CrossFailed", "Closed"]
    check_invariants(r, quiescent=True)


def test_a_group_disabled_during_the_auction_stops_the_cross() -> None:
    r = rig()
    o = auction(r, progressRule="None", activeDuration=3)
    nn = r.notice_of(o["parentNumber"])
    assert r.respond(nn, accnt="R1", firm="F1", size=100, price=4.95) is None
    r.advance(1000, 1)
    control(r, "Yes")
    r.advance(4000, 4)
    st = r.state(o["parentNumber"])
    assert st["cumFillQuantity"] == 0 and "SpdrRiskGroupControl" in st["spdrComment"]
    assert r.name(BS, "spdrCloseReason", st["spdrCloseReason"]) == "CrossFailed"


def test_responses_of_a_disabled_group_are_refused_or_left_out() -> None:
    r = rig()
    o = auction(r, progressRule="None", activeDuration=3)
    nn = r.notice_of(o["parentNumber"])
    control(r, "Yes", accnt="R.OFF", firm="F1", group="0000-0000-0000-0009")
    why = r.respond(nn, accnt="R.OFF", firm="F1", size=50, price=5.0,
                    riskGroupId="0000-0000-0000-0009")
    assert why is not None and why.startswith("riskGroupId:") and "isDisabled No" in why
    assert r.respond(nn, accnt="R.LATER", firm="F2", size=50, price=5.0,
                     riskGroupId="0000-0000-0000-0003") is None
    assert r.respond(nn, accnt="R.OK", firm="F3", size=50, price=4.95) is None
    control(r, "Yes", accnt="R.LATER", firm="F2", group="0000-0000-0000-0003")
    r.advance(4000, 4)
    a = r.auctions.manager.finished[nn]
    assert [(acc, q, px) for acc, _f, q, px in a.fills] == [("R.OK", 50, 4.95)]
    check_invariants(r, quiescent=True)
