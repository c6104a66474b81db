"""``openmlink serve`` with its market sources, through a real server process."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

try:
    from tests.conftest import start_server, stop_server
except ImportError:  # pragma: no cover - tests/ not a package
    from conftest import start_server, stop_server  # type: ignore[no-redef]

from tests.support.paths import CBOE, FIXTURES

#: (chain files, series they list, underliers): the fixtures of every layout always, the real
#: downloads when present
_FIX = ["spx_2023-09-14", "spy_2023-09-14", "xsp_2023-09-14", "spy_2022-02-04",
        "aapl_2021-06-04_old_layout"]
CHAIN_SETS = [([FIXTURES / "cboe" / f"{n}.csv" for n in _FIX], 98 + 66 + 64 + 64 + 64, 4)]
if CBOE.is_dir():
    CHAIN_SETS.append((sorted(CBOE.glob("*.csv")), 19920 + 7292 + 10882, 3))

UNIVERSE = ("AAPL", "SPY", "CAKE", "SPX", "QQQ", "IWM", "NVDA", "TSLA")


def _recs(reply: list[dict], mtyp: str) -> list[dict]:
    return [r["message"] for r in reply if r["header"]["mTyp"] == mtyp]


def _count(server, msg_type: str, where: str | None = None) -> int:
    params = {"cmd": "getcount", "msgType": msg_type}
    if where:
        params["where"] = where
    got = _recs(server.get(**params), "MLinkCount")
    return int(got[0].get("count", 0)) if got else 0


def _wait_for(fn, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    return fn()


@pytest.fixture(scope="module")
def live():
    s = start_server("--seed", "7")
    yield s
    stop_server(s)


def _aapl(server):
    got = _recs(server.get(cmd="getmsgs", msgType="StockBookQuote",
                           where="ticker:eq:AAPL-NMS-EQT", view="ticker|bidPrice1|askPrice1"),
                "StockBookQuote")
    return got[0] if got else None


def test_serve_shows_a_living_aapl_nbbo(live):
    first = _wait_for(lambda: _aapl(live), 10)
    assert first is not None
    assert first["pkey"]["ticker"] == {"at": "EQT", "ts": "NMS", "tk": "AAPL"}
    assert 0 < first["bidPrice1"] < first["askPrice1"] < first["bidPrice1"] * 1.001
    changed = _wait_for(lambda: (q := _aapl(live)) and q != first and q, 15)
    assert changed and changed != first


def test_serve_has_option_chains_for_every_universe_ticker(live):
    _wait_for(lambda: _count(live, "OptionNbboQuote") > 10_000, 10)
    for tk in UNIVERSE:
        assert _count(live, "OptionNbboQuote", f"okey.tk:eq:{tk}") > 100, tk
    assert _count(live, "OptionNbboQuote", "okey.tk:eq:SPXW") > 100
    assert _count(live, "RootDefinition") >= len(UNIVERSE)
    assert _count(live, "OptionNbboQuote", "bidPrice:gt:askPrice") == 0


@pytest.mark.parametrize(("files", "series", "underliers"), CHAIN_SETS,
                         ids=["fixtures", "shared"][:len(CHAIN_SETS)])
def test_serve_chain_files(files, series, underliers):
    s = start_server("--chain", *map(str, files), "--no-analytics")
    try:
        n = _wait_for(lambda: _count(s, "OptionNbboQuote") >= series and
                      _count(s, "OptionNbboQuote"), 20)
        assert n == series
        assert _count(s, "StockBookQuote") == underliers
        cells = {"SPXW-NMS-EQT-2023-09-14-1200-C": (3300.1, 3319.8),
                 "SPY-NMS-EQT-2022-03-18-420-C": (32.04, 32.65),
                 "AAPL-NMS-EQT-2021-07-16-140-P": (8.5, 8.68)}
        for pkey, quote in cells.items():
            if pkey.startswith("SPXW") or len(files) == len(_FIX):
                rec = _recs(s.get(cmd="getmsgs", msgType="OptionNbboQuote", pkey=pkey),
                            "OptionNbboQuote")[0]
                assert (rec["bidPrice"], rec["askPrice"]) == quote, pkey
    finally:
        stop_server(s)


def test_record_then_serve_the_replay(tmp_path):
    out = tmp_path / "sim.oml"
    subprocess.run([sys.executable, "-m", "openmlink", "record", "--out", str(out),
                    "--seconds", "2", "--seed", "4", "--universe", "small"],
                   check=True, capture_output=True, timeout=60)
    assert out.stat().st_size > 1000
    s = start_server("--replay", str(out), "--fast")
    try:
        assert _wait_for(lambda: _aapl(s), 15) is not None
        assert _count(s, "OptionNbboQuote", "okey.tk:eq:CAKE") > 100
        assert _count(s, "OptionNbboQuote", "okey.tk:eq:NVDA") == 0  # small universe
    finally:
        stop_server(s)


def test_record_with_a_seed_and_start_is_reproducible(tmp_path):
    outs = []
    for name in ("a.oml", "b.oml"):
        out = tmp_path / name
        subprocess.run([sys.executable, "-m", "openmlink", "record", "--out", str(out),
                        "--seconds", "1", "--seed", "5", "--universe", "small",
                        "--start", "2026-11-23 15:00:00"],
                       check=True, capture_output=True, timeout=60)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
