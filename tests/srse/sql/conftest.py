"""Fixtures of the SQL endpoint tests: a fresh in-process endpoint per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.sql import SqlHarness


def okey(tk: str = "AAPL", dt: str = "2026-01-16", xx: float = 200.0, cp: str = "Call") -> dict[str, Any]:
    return {"at": "EQT", "ts": "NMS", "tk": tk, "dt": dt, "xx": xx, "cp": cp}


def brkr_state(firm: str, parent: str, notice: str, accnt: str = "A1", key: dict | None = None,
               status: str = "Active") -> dict[str, Any]:
    """A SpdrParentBrkrState body (server-published: the trading engine's broker state)."""
    return {"pkey": {"accnt": accnt, "secKey": key or okey(), "secType": "Option",
                     "spdrSource": "MLink", "groupingCode": parent, "orderSide": "Buy",
                     "clientFirm": firm},
            "parentNumber": parent, "noticeNumber": notice, "spdrBrokerStatus": status,
            "orderSize": 10, "updateDttm": "2026-01-05 15:30:00.123456"}


def execution(firm: str, fill: str, parent: str, key: dict | None = None, qty: int = 5,
              price: float = 4.5) -> dict[str, Any]:
    return {"pkey": {"fillNumber": fill}, "parentNumber": parent, "secKey": key or okey(),
            "secType": "Option", "accnt": "A1", "clientFirm": firm, "fillQuantity": qty,
            "fillPrice": price, "orderSide": "Buy", "fillDttm": "2026-01-05 15:31:00"}


@pytest.fixture
def sql(tmp_path) -> Iterator[SqlHarness]:
    h = SqlHarness(tmp_path)
    yield h
    h.close()
