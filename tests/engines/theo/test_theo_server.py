"""Through a real server: post a client SVI surface, read OptionTheoVol back; the seed page's
SpdrTheoExpSurface template with real values is stored and validated."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from openmlink.analytics import price
from openmlink.analytics.theo import svi_total_variance
from tests.conftest import Server, start_server, stop_server
from tests.support.serve import wait_market


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """A server of this module's own (its posts must not show in other modules' reads), once
    its market source's first state is all in the tables: the SPX chain the test reads."""
    s = start_server()
    wait_market(s.base)
    yield s
    stop_server(s)

def _spx_expiry(server) -> dict:
    got = server.get(cmd="getmsgs", msgType="OptionNbboQuote", where="okey.tk:eq:SPX", limit=1)
    o = got[0]["message"]["pkey"]["okey"]
    return {k: o[k] for k in ("at", "ts", "tk", "dt")}


def test_posted_svi_surface_gives_option_theo_vols(server):
    ek = _spx_expiry(server)
    body = {"header": {"mTyp": "SpdrTheoExpSurface"},
            "message": {"pkey": {"ekey": ek, "theoModel": "SrvSVI", "clientFirm": "F1"},
                        "skewFunc": "SVI", "paramA": 0.004, "paramB": 0.03, "paramC": -0.6,
                        "paramD": 0.0, "paramE": 0.08, "refUPrcWeight": 0.0,
                        "theoStatus": "Auto"}}
    ack = server.post(body, postaction="I")[0]["message"]
    assert ack["result"] == "OK", ack
    refused = server.get(cmd="getmsgs", msgType="OptionTheoVol", limit=5)
    assert refused[-1]["message"]["result"] == "Error"
    assert "theoModel" in refused[-1]["message"]["detail"]
    got = server.get(cmd="getmsgs", msgType="OptionTheoVol", where="theoModel:eq:SrvSVI",
                     limit=10000)
    rows = [m["message"] for m in got if m["header"]["mTyp"] == "OptionTheoVol"]
    assert len(rows) > 10
    for r in rows[:50]:
        T, k = r["years"], r["xAxis"]
        tv = math.sqrt(float(svi_total_variance(k, 0.004, 0.03, -0.6, 0.0, 0.08)) / T)
        assert r["tvol"] == pytest.approx(tv, rel=1e-5)  # floats on the wire
        K = r["pkey"]["okey"]["xx"]
        cp = 1.0 if r["pkey"]["okey"]["cp"] == "Call" else -1.0
        want = float(price(r["uprc"], K, T, r["rate"], r.get("sdiv", 0.0), r["tvol"], cp))
        assert r["tprc"] == pytest.approx(want, rel=1e-4, abs=1e-4)
    server.post(body, postaction="D")


def test_seed_theo_template_with_real_values_is_stored_and_checked(server):
    from tests.gateway.test_seeds import _fill_placeholders, _samples
    _title, params, payload = next(s for s in _samples("004_e34a2ddef7fef608.txt") if s[2])
    body = _fill_placeholders("SpdrTheoExpSurface", payload)
    body["message"]["pkey"]["theoModel"] = "SeedTpl"
    body["message"]["skewFunc"] = "SVI"  # template: a=b=rho=m=sigma=1 -> rho must be < 1
    ack = server.post(body, postaction=params["postaction"], postmerge=params["postmerge"])
    assert ack[0]["message"]["result"] == "OK"
    got = server.get(cmd="getmsg", msgType="SpdrTheoExpSurface", pkey=ack[0]["message"]["pkey"])
    assert got[0]["message"]["comment"] == "ERR:SVI params"
