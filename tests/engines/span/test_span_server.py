"""Through a real server: the seed page's SpanRiskCalculator post template, with real values,
comes back with computed span01..span16."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openmlink.analytics.span import SPAN_FIELDS
from tests.conftest import Server, start_server, stop_server
from tests.gateway.test_seeds import _fill_placeholders, _samples
from tests.support.serve import wait_for


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """A server of this module's own: its posts must not show in other modules' reads."""
    s = start_server()
    yield s
    stop_server(s)


def _live_option(server) -> dict:
    """A quoted AAPL call whose LiveImpliedQuote has a surface vol already (the calculator's
    live defaults read it: a server under load may not have finished its first Loop).  A call:
    the user-input record below keeps this side, and docs/span.md's worked example is a call's
    (a put gave span15 -226.557 -- whichever side the first Loop rows reached first)."""
    def pick() -> dict | None:
        got = server.get(cmd="getmsgs", msgType="OptionNbboQuote", where="okey.tk:eq:AAPL",
                         limit=400, view="bidPrice|askPrice")
        quoted = [m["message"]["pkey"]["okey"] for m in got[:-1]
                  if m["message"].get("bidPrice", 0) > 1 and m["message"].get("askPrice", 0) > 0
                  and m["message"]["pkey"]["okey"]["cp"] == "Call"]
        for okey in quoted[:40]:
            live = server.get(cmd="getmsgs", msgType="LiveImpliedQuote", view="sVol",
                              where=f"okey.tk:eq:AAPL & okey.dt:eq:{okey['dt']} & "
                                    f"okey.xx:eq:{okey['xx']} & okey.cp:eq:{okey['cp']}")
            if any(m["message"].get("sVol", 0) > 0 for m in live[:-1]):
                return okey
        return None

    okey = wait_for(pick, timeout=120.0, every=1.0)
    assert okey, "no quoted AAPL option with a live surface vol"
    return okey


def test_seed_template_with_live_defaults_reads_back_computed_spans(server):
    _title, params, payload = next(s for s in _samples("003_22c068a661168229.txt") if s[2])
    body = _fill_placeholders("SpanRiskCalculator", payload)
    msg = body["message"]
    msg["pkey"]["secKey"] = _live_option(server)
    msg["pkey"]["userName"] = "seed-template"
    msg["divString"] = ""
    reply = server.post(body, postaction=params["postaction"], postmerge=params["postmerge"])
    ack = reply[0]["message"]
    assert ack["result"] == "OK", ack
    rec = server.get(cmd="getmsg", msgType="SpanRiskCalculator", pkey=ack["pkey"])[0]["message"]
    assert rec.get("error", "") == "", rec
    spans = [rec.get(f, 0.0) for f in SPAN_FIELDS]
    assert sum(1 for s in spans if s != 0.0) >= 14
    assert rec["uPrc"] > 0 and rec["vol"] > 0 and rec["pointValue"] == 100
    # a user-supplied record through the same server: the worked example of docs/span.md
    msg.update({"vol": 0.30, "volSrc": "User", "uPrc": 100, "uPrcSrc": "User", "years": 0.5,
                "yearsSrc": "User", "rate": 0.05, "rateSrc": "User", "sdiv": 0, "sdivSrc": "User",
                "exType": "European", "exTypeSrc": "User", "divSrc": "User", "pointValue": 100,
                "pointValueSrc": "User", "prcSpanType": "Pct", "prcSpanUp": 0.15,
                "prcSpanDn": 0.15, "volSpanType": "Pct", "volSpan": 0.25, "effStrike": 100,
                "effStrikeSrc": "User", "symRatio": 1, "symRatioSrc": "User"})
    ack = server.post(body, postaction="U", postmerge="Y")[0]["message"]
    got = server.get(cmd="getmsgs", msgType="SpanRiskCalculator",
                     where="userName:eq:seed-template")
    rec = got[0]["message"]
    assert rec["span15"] == pytest.approx(1258.4429, abs=1e-3)
    assert rec["span01"] == pytest.approx(206.3053, abs=1e-3)
    assert ack["result"] == "OK"
