"""Pre-trade risk cost in the order manager's tick (trading.md §1.9): CPU of re-pricing N
working orders after an underlier move when they carry no risk limit, group limits only, or
limits of every scope (group, symbol, expiry, rMetric, EMA-cancel, plus the group's
SpdrRiskGroupControl), all in one process; and venue fills per second with and without symbol/
expiry limits.  Prints figures (min CPU over the moves, ratio to the no-limit run); no
thresholds.  The same script runs on an older checkout (PYTHONPATH) for a before/after.

    python bench/bench_risk_limits.py [--orders 3000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openmlink.gcpolicy import GcPolicy
from openmlink.trading import TradingConfig
from tests.support.trading import ACCNT, EXPIRY, ORIGIN, TradingRig

GROUP = "0000-0000-0000-0007"
VARIANTS: dict[str, dict[str, Any]] = {
    "none": {},
    "group": {"maxGrpDayDDeltaSh": 1e9, "maxGrpDayVegaLn": 1e9},
    "every scope": {"maxGrpDayDDeltaSh": 1e9, "maxGrpDayVegaLn": 1e9,
                    "maxSymDayDDeltaSh": 1e9, "maxSymDayWtVegaLn": 1e9,
                    "maxExpDayWtVegaLn": 1e9, "maxGrpDayRMetric1Ln": 1e9,
                    "orderRefRMetric1": 0.5, "symEmaCxlDDeltaSh": 1e12},
}


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def _rig(n: int, fields: dict[str, Any], control: bool, px: float = 4.8) -> TradingRig:
    rig = TradingRig(config=TradingConfig(key_rate=0, accnt_rate=0))
    rig.stock("AAPL", 199.9, 200.1)
    for k in range(40):
        rig.option("AAPL", 180 + k, "Put", 4.9, 5.1)
    if control:
        rig.put("SpdrRiskGroupControl", {"riskGroupId": GROUP, "accnt": ACCNT,
                                         "riskFirm": "SRCORE", "maxSymDayVegaLn": 1e9,
                                         "maxExpDayWtVegaSh": 1e9}, origin=ORIGIN)
    for i in range(n):
        rig.order(secKey={"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": EXPIRY,
                          "xx": 180 + i % 40, "cp": "Put"}, orderSize=5, orderPrcLimit=px,
                  groupingCode="-".join(f"{i:016X}"[j:j + 4] for j in range(0, 16, 4)),
                  riskGroupId=GROUP, **fields)
    rig.advance(5, 5)
    return rig


def reprice(n: int, name: str, fields: dict[str, Any], control: bool) -> float:
    rig = _rig(n, fields, control)
    policy = GcPolicy()
    policy.start()
    best = float("inf")
    for move in (0.5, -0.5, 0.3, -0.3):
        for k in range(40):
            rig.option("AAPL", 180 + k, "Put", 4.9 + move / 10, 5.1 + move / 10, uprc=200 + move)
        c = time.process_time()
        rig.engine.tick()
        best = min(best, time.process_time() - c)
        rig.advance(5, 5)  # the venue confirms the modifies
        policy.step()
    rig.engine.close()
    return best * 1e3


def fills(n: int, fields: dict[str, Any]) -> float:
    rig = _rig(n, fields, False, px=5.3)
    c = time.process_time()
    for _ in range(5):
        for k in range(40):
            rig.option("AAPL", 180 + k, "Put", 4.9, 5.1, asz=500)
        rig.advance(5, 5)
    cpu = time.process_time() - c
    nf = rig.engine.manager.fills_published
    rig.engine.close()
    return nf / cpu if cpu else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--orders", type=int, default=3000)
    a = ap.parse_args()
    import openmlink
    print(f"code: {Path(openmlink.__file__).parent}; {a.orders} working orders; {_load()}")
    base = 0.0
    for name, fields in VARIANTS.items():
        for control in ((False, True) if name == "every scope" else (False,)):
            ms = reprice(a.orders, name, fields, control)
            base = base or ms
            label = name + (" + group control" if control else "")
            print(f"re-price after an underlier move, limits: {label:28s} CPU {ms:7.1f} ms "
                  f"(x{ms / base:.2f} of none); {_load()}")
    for name in ("none", "every scope"):
        print(f"venue fills per CPU second, limits {name}: {fills(a.orders // 3, VARIANTS[name]):,.0f}"
              f"; {_load()}")


if __name__ == "__main__":
    main()
