"""SpdrRiskGroupControl.isDisabled (trading.md §1.9): Yes pulls every child of the group's
brokers and holds them; No lets them work again; the setting survives a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.trading import ACCNT, ORIGIN, TradingRig, check_invariants

BS = "SpdrParentBrkrState"


def _rig(data_dir: Path | None = None) -> TradingRig:
    r = TradingRig(data_dir=data_dir)
    r.stock("AAPL", 199.9, 200.1)
    r.option("AAPL", 200, "Put", 4.9, 5.1)
    return r


def _control(r: TradingRig, group: str, disabled: str) -> None:
    r.put("SpdrRiskGroupControl", {"riskGroupId": group, "accnt": ACCNT, "riskFirm": "SRCORE",
                                   "isDisabled": disabled}, origin=ORIGIN)


def _status(r: TradingRig, pn: int) -> tuple[tuple[str, str], int, str]:
    st = r.state(pn)
    assert st is not None
    return ((r.name(BS, "spdrOrderStatus", st["spdrOrderStatus"]),
             r.name(BS, "spdrBrokerStatus", st["spdrBrokerStatus"])), st["csz1"], st["spdrComment"])


def _orders(r: TradingRig) -> tuple[dict[str, Any], dict[str, Any]]:
    a = r.order(orderPrcLimit=4.95, orderSize=5, riskGroupId="0000-0000-0000-0007")
    b = r.order(orderPrcLimit=4.95, orderSize=5, riskGroupId="0000-0000-0000-0008",
                groupingCode="0000-0000-0000-0002")
    r.advance(5, 5)
    return a, b


def test_disabling_a_group_holds_its_brokers_and_enabling_releases_them() -> None:
    r = _rig()
    a, b = _orders(r)
    assert _status(r, a["parentNumber"])[:2] == (("New", "Active"), 5)
    _control(r, "0000-0000-0000-0007", "Yes")
    r.advance(5, 5)
    st, csz, why = _status(r, a["parentNumber"])
    assert st == ("New", "ActiveHold") and csz == 0 and "isDisabled" in why
    m = r.engine.manager
    assert not m.venue.live_children(a["parentNumber"])
    assert _status(r, b["parentNumber"])[:2] == (("New", "Active"), 5)  # another group
    _control(r, "0000-0000-0000-0007", "No")
    r.advance(5, 5)
    assert _status(r, a["parentNumber"])[:2] == (("New", "Active"), 5)
    check_invariants(r, quiescent=False)


def test_a_disabled_group_stays_disabled_after_a_restart(tmp_path: Path) -> None:
    r1 = _rig(tmp_path)
    a, _b = _orders(r1)
    _control(r1, "0000-0000-0000-0007", "Yes")
    r1.advance(5, 5)
    r2 = _rig(tmp_path)
    r2.advance(5, 5)
    st, csz, _why = _status(r2, a["parentNumber"])
    assert st == ("New", "ActiveHold") and csz == 0
