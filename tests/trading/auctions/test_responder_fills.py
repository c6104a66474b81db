"""The responder side of a cross (trading.md §3.2 "fills for initiator and responders"): a real
responder's allocation is a SpdrParentExecution of its own account and firm, so positions,
SymbolRiskSummaryV5 and its group counter follow it; it is journaled like every fill and comes
back after a restart; simulated responders get none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openmlink.trading import AuctionConfig
from openmlink.trading.risk import RiskConfig, RiskEngine
from tests.support.auctions import AuctionRig

EX = "SpdrParentExecution"


def _rig(data_dir: Path | None = None) -> tuple[AuctionRig, RiskEngine]:
    r = AuctionRig(AuctionConfig(seed=3, sim_responders=0), data_dir=data_dir)
    r.stock("AAPL", 199.9, 200.1)
    r.option("AAPL", 200, "Put", 4.9, 5.1)
    risk = RiskEngine(r.bus, r.store, r.reg, r.clock, config=RiskConfig(loop_s=60))
    risk.attach()
    return r, risk


def _flash_cross(r: AuctionRig) -> dict[str, Any]:
    o = r.order(parentOrderHandling="FlashAuction", orderSide="Sell", orderSize=30,
                takeReachRule="UpToQty", orderPrcLimit=4.95, atsVisibility="SidePrice",
                progressRule="AutoComplete")
    nn = r.notice_of(o["parentNumber"])
    assert r.respond(nn, accnt="R.ONE", firm="RESPFIRM", rid="x", size=20, price=5.0,
                     riskGroupId="0000-0000-0000-0009") is None
    assert r.respond(nn, accnt="R.TWO", firm="OTHERFIRM", rid="y", size=10, price=5.0) is None
    r.advance(25, 5)
    return o


def _rows(r: AuctionRig, name: str, accnt: str) -> list[dict[str, Any]]:
    t = r.store.table(r.reg[name])
    return [x for x in (t.record(int(i)) for i in t.live_rows()) if x["accnt"] == accnt]


def test_responders_get_executions_positions_and_risk() -> None:
    r, _risk = _rig()
    o = _flash_cross(r)
    fills = r.published(EX)
    init = [f for f in fills if f["parentNumber"] == o["parentNumber"]]
    resp = {f["accnt"]: f for f in fills if f["parentNumber"] != o["parentNumber"]}
    assert sum(f["fillQuantity"] for f in init) == 30
    assert {k: (f["fillQuantity"], f["fillPrice"], f["clientFirm"]) for k, f in resp.items()} == \
        {"R.ONE": (20, 5.0, "RESPFIRM"), "R.TWO": (10, 5.0, "OTHERFIRM")}
    one = resp["R.ONE"]
    assert r.name(EX, "spdrSource", one["spdrSource"]) == "MLinkResponse"
    assert r.name(EX, "orderSide", one["orderSide"]) == "Buy" and one["riskGroupId"] == 9
    assert str(one["secKey"]) == str(init[0]["secKey"]) and one["noticeNumber"] == \
        r.notice_of(o["parentNumber"])
    assert len({f["fillNumber"] for f in fills}) == len(fills)  # one numbering with the initiator
    pos = _rows(r, "OptionPositionRecordV5", "R.ONE")
    assert [(p["cnBot"], p["cnSld"], p["clientFirm"]) for p in pos] == [(20, 0, "RESPFIRM")]
    sym = _rows(r, "SymbolRiskSummaryV5", "R.ONE")
    assert sym and sym[0]["opCnBot"] == 20
    init_pos = _rows(r, "OptionPositionRecordV5", "T.MTL.VEN")
    assert [p["cnSld"] for p in init_pos] == [30]
    g = r.store.table(r.reg["RiskGroupCounter"]).get(("R.ONE", "RESPFIRM", 9))
    assert g is not None and g["ddBotIocFilled"] - g["ddSldIocFilled"] == \
        one["riskDDelta"]  # the responder's group counter charged with its fill


def test_responder_executions_come_back_after_a_restart(tmp_path: Path) -> None:
    r, risk = _rig(tmp_path)
    _flash_cross(r)
    before = sorted((f["fillNumber"], f["accnt"], f["fillQuantity"]) for f in r.published(EX))
    risk.close()
    r.auctions.close()
    r.engine.close()
    r2, _ = _rig(tmp_path)
    r2.clock = r.clock
    after = sorted((f["fillNumber"], f["accnt"], f["fillQuantity"]) for f in r2.published(EX))
    assert after == before
    assert [p["cnBot"] for p in _rows(r2, "OptionPositionRecordV5", "R.ONE")] == [20]
