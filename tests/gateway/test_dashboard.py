"""The web dashboard at ``/``: its assets over HTTP, and the page driven in headless Chromium
against a real ``openmlink serve`` (smile points and curve for SPY, the table filter, a posted
order and its fill in the blotter). A screenshot goes to ``test-artifacts/dashboard.png``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from openmlink.client import MLinkClient
from tests.conftest import API_KEY
from tests.support.browser import ARTIFACTS, chrome
from tests.support.serve import LITE, Served, serve_on


@pytest.fixture(scope="module")
def live() -> Iterator[Served]:
    """A small seeded simulator with analytics, once its first Loop pass is published."""
    s = serve_on("--universe", "small", "--seed", "7", "--no-sql")
    try:
        ml = MLinkClient(s.url, API_KEY)
        deadline = time.time() + 300  # kernels compile on a fresh install
        while ml.count("LiveImpliedQuote", where="ticker:eq:SPY-NMS-EQT") == 0:
            assert time.time() < deadline, "no LiveImpliedQuote within 300 s:\n" + s.output()
            time.sleep(1)
        yield s
    finally:
        s.stop()


def test_assets_are_served_from_the_package(live):
    r = requests.get(live.url + "/", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "static/dashboard.js" in r.text and "http" not in r.text.split("<body>")[1]  # no CDN
    for name, ctype in (("mlink.js", "text/javascript"), ("charts.js", "text/javascript"),
                        ("dashboard.css", "text/css")):
        a = requests.get(f"{live.url}/static/{name}", timeout=10)
        assert a.status_code == 200 and a.headers["Content-Type"].startswith(ctype)
    assert requests.get(live.url + "/static/nope.js", timeout=10).status_code == 404
    assert requests.get(live.url + "/static/..%2Fcli.py", timeout=10).status_code == 404


def wait(what: str, fn: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.time() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def test_dashboard_in_headless_chromium(live):
    from selenium.webdriver.common.by import By

    d = chrome()

    def texts(css: str) -> list[str]:  # read in one script: the page redraws twice a second
        return d.execute_script(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)", css)

    def count(css: str) -> int:
        return len(texts(css))

    try:
        d.get(f"{live.url}/?apiKey={API_KEY}&u=SPY")
        wait("the socket to log on", lambda: texts("#status") == ["live"])
        # the SPY smile: bid and ask IV points and the fitted curve
        wait("smile points", lambda: count("#smile circle.bid") >= 5)
        assert count("#smile circle.ask") >= 5
        fit = d.execute_script("return document.querySelector('#smile path.fit').getAttribute('d')")
        assert fit.startswith("M") and fit.count("L") >= 5
        assert texts("#smile-note")[0].startswith("SPY ")
        wait("term structure", lambda: count("#term circle.atm") >= 3)

        # the LiveImpliedQuote table filters
        def cells(col: int) -> list[str]:
            return texts(f"#liq-table tbody tr td:nth-child({col})")

        wait("table rows", lambda: len(cells(1)) >= 50)
        assert set(cells(1)) == {"SPY"} and set(cells(4)) == {"Call", "Put"}
        expiry = d.execute_script("return document.getElementById('expiry').value")
        box = d.find_element(By.ID, "liq-filter")
        box.send_keys(f"{expiry} Put")
        wait("the filter to apply", lambda: set(cells(4)) == {"Put"} and set(cells(2)) == {expiry})
        box.clear()
        box.send_keys("no-such-series")
        wait("an empty filtered table",
             lambda: texts("#liq-table tbody td") == ["no row matches the filter"])
        box.clear()
        box.send_keys(expiry)

        # a posted order appears in the blotter, then its fill
        ml = MLinkClient(live.url, API_KEY)
        [q] = ml.get_msgs("OptionNbboQuote", order="askPrice:ASC", limit=1,
                          where="okey.tk:eq:SPY & bidPrice:gt:1 & askPrice:lt:30 & askSize:ge:10")
        [ack] = ml.post({"secKey": q["pkey"]["okey"], "secType": "Option", "accnt": "T.DASH.1",
                         "orderSide": "Buy", "spdrActionType": "Add", "orderSize": 3,
                         "orderLimitType": "Prc", "orderPrcLimit": round(q["askPrice"] + 0.05, 2),
                         "groupingCode": "0000-0000-0000-0042", "clientFirm": "SRCORE"},
                        msg_type="SpdrParentOrder", check=True)
        parent = ack["pkey"]
        def row(css: str) -> list[str]:  # the cells of the row naming the parent order
            return d.execute_script(
                "const r = [...document.querySelectorAll(arguments[0])]"
                ".find(r => r.textContent.includes(arguments[1]));"
                "return r ? [...r.cells].map(c => c.textContent) : null", css, parent)

        cols = texts("#parents thead th")
        first = wait("the order in the blotter", lambda: row("#parents tbody tr"), timeout=15)
        assert first[cols.index("account")] == "T.DASH.1" and first[cols.index("side")] == "Buy"
        assert first[cols.index("size")] == "3"
        fcols = texts("#fills thead th")
        fill = wait("its fill", lambda: row("#fills tbody tr"), timeout=15)
        assert int(fill[fcols.index("qty")]) > 0 and float(fill[fcols.index("price")]) > 0
        wait("the order filled", lambda: (r := row("#parents tbody tr")) is not None
             and r[cols.index("reason")] == "Filled" and r[cols.index("filled")] == "3", timeout=15)
        # a block auction (seed example 6's order, on a live SPY series) shows in the auctions panel
        [q] = ml.get_msgs("OptionNbboQuote", order="bidPrice:ASC", limit=1,
                          where="okey.tk:eq:SPY & bidPrice:gt:2 & askPrice:lt:30")
        ml.post({"spdrActionType": "AddReplace", "parentShape": "Single", "secKey": q["pkey"]["okey"],
                 "secType": "Option", "accnt": "T.DASH.1", "clientFirm": "SRCORE",
                 "groupingCode": "4968-D169-C69A-8150", "orderSide": "Sell", "orderSize": 100,
                 "progressRule": "AllowImmediate", "atsVisibility": "SidePrice", "activeDuration": 900,
                 "parentOrderHandling": "BlockAuction", "orderLimitType": "Prc",
                 "takeReachRule": "AllOrNone", "orderPrcLimit": q["bidPrice"]},
                msg_type="SpdrParentOrder", check=True)
        acols = texts("#auctions thead th")
        auction = wait("the auction", lambda: d.execute_script(
            "const r = [...document.querySelectorAll('#auctions tbody tr')]"
            ".find(r => r.textContent.includes('SPY-NMS-EQT'));"
            "return r ? [...r.cells].map(c => c.textContent) : null"), timeout=20)
        assert auction[acols.index("type")] == "Block" and auction[acols.index("qty")] == "100"
        wait("risk for SPY", lambda: any(t.startswith("SPY") for t in texts("#risk tbody tr")),
             timeout=90)
        d.set_window_size(1600, d.execute_script("return document.body.scrollHeight") + 140)
        time.sleep(1.5)  # a redraw at the new width
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert d.save_screenshot(str(ARTIFACTS / "dashboard.png"))
        # another underlier: its own smile and table
        from selenium.webdriver.support.ui import Select

        Select(d.find_element(By.ID, "underlier")).select_by_visible_text("AAPL")
        wait("the AAPL smile", lambda: texts("#smile-note")[0].startswith("AAPL ")
             and count("#smile circle.bid") >= 5)
        box.clear()
        wait("AAPL rows", lambda: (c := cells(1)) and set(c) == {"AAPL"} and len(c) >= 50)
        severe = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, severe
    finally:
        d.quit()


def test_dashboard_reconnects_after_the_server_restarts():
    first = serve_on(*LITE)
    second = None
    d = chrome()

    def texts(css: str) -> list[str]:
        return d.execute_script(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)", css)

    try:
        d.get(f"{first.url}/?apiKey={API_KEY}&u=SPY")
        wait("the socket to log on", lambda: texts("#status") == ["live"])
        wait("the underlier list", lambda: texts("#underlier option") == ["AAPL", "CAKE", "SPX", "SPY"])
        first.stop()
        wait("the drop to show", lambda: texts("#status") != ["live"])
        second = serve_on(*LITE, port=first.port)
        wait("the socket to log on again", lambda: texts("#status") == ["live"], timeout=60)
        # the streams were sent again: a post on the new server reaches the blotter
        ml = MLinkClient(second.url, API_KEY)
        [q] = ml.get_msgs("OptionNbboQuote", order="askPrice:ASC", limit=1,
                          where="okey.tk:eq:SPY & bidPrice:gt:1 & askPrice:lt:30")
        [ack] = ml.post({"secKey": q["pkey"]["okey"], "secType": "Option", "accnt": "T.DASH.2",
                         "orderSide": "Buy", "spdrActionType": "Add", "orderSize": 1,
                         "orderLimitType": "Prc", "orderPrcLimit": round(q["bidPrice"] - 0.5, 2),
                         "groupingCode": "0000-0000-0000-0043", "clientFirm": "SRCORE"},
                        msg_type="SpdrParentOrder", check=True)
        wait("the order in the blotter",
             lambda: any(ack["pkey"] in t for t in texts("#parents tbody tr")), timeout=15)
    finally:
        d.quit()
        first.stop()
        if second is not None:
            second.stop()
