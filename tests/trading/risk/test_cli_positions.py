"""``openmlink serve --positions FILE``: a bad file stops the server with one line naming the
file, line and column; a good one shows its positions in the risk tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import start_server, stop_server


def _serve_err(*args: str) -> tuple[int, str]:
    p = subprocess.run([sys.executable, "-m", "openmlink", "serve", "--no-persist", "--no-market",
                        "--no-analytics", "--port", "0", *args],
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stderr


def test_bad_positions_file_is_one_clear_line(tmp_path: Path) -> None:
    f = tmp_path / "sod.csv"
    f.write_text("accnt,clientFirm,secKey,position\nA,F,AAPL-NMS-EQT,ten\n")
    rc, err = _serve_err("--positions", str(f))
    assert rc == 2
    assert f"{f} line 2: column 'position': 'ten' is not an integer" in err
    assert "Traceback" not in err
    rc, err = _serve_err("--risk-loop-seconds", "0")
    assert rc == 2 and "--risk-loop-seconds must be > 0" in err


def test_positions_file_shows_in_the_risk_tables(tmp_path: Path) -> None:
    f = tmp_path / "sod.csv"
    f.write_text("accnt,clientFirm,secKey,position,mark\nSOD1,F,AAPL-NMS-EQT,300,200\n")
    s = start_server("--positions", str(f), "--no-market", "--no-analytics")
    try:
        recs = [m["message"] for m in s.get(cmd="getmsgs", msgType="StockPositionRecordV5",
                                             where="accnt:eq:SOD1")
                if m["header"]["mTyp"] == "StockPositionRecordV5"]
        assert [(r["stkOpnPos"], r["stkOpnMidMark"]) for r in recs] == [(300, 200.0)]
        sym = [m["message"] for m in s.get(cmd="getmsgs", msgType="SymbolRiskSummaryV5",
                                            where="accnt:eq:SOD1")
               if m["header"]["mTyp"] == "SymbolRiskSummaryV5"]
        assert sym and sym[0]["shOpnPos"] == 300 and sym[0]["delta"] == 300
        assert sym[0].get("numStkErrors") == 1  # no market: no price, no slides
    finally:
        stop_server(s)
