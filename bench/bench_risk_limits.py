"""Pre-trade risk cost in the order manager's tick (trading.md §1.9): CPU of re-pricing N
working orders after an underlier move when they carry no risk limit, group limits only, or
limits of every scope (group, symbol, expiry, rMetric, EMA-cancel, plus the group's
SpdrRiskGroupControl), all in one process; venue fills per second with and without symbol/
expiry limits; the per-order risk check (``OrderManager._risk_size``) by limit set; and the
tick in which a fill of the other side gives N capped orders room (they are worked again and
their resting children topped up; older checkouts do not re-work them).  Prints figures (min CPU
over the moves, ratio to the no-limit run); no thresholds.  The same script runs on an older
checkout (run that checkout's copy: the script puts its own tree first) for a before/after.

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


def check_us(fields: dict[str, Any]) -> float:
    """CPU per risk check of one working order carrying ``fields`` (min of 7 x 20,000)."""
    rig = _rig(1, fields, False)
    m = rig.engine.manager
    b = next(iter(m.brokers.values()))
    per = m._per_unit(b, b.mkt, 100.0)
    now = rig.clock.time_ns()
    best = float("inf")
    for _ in range(7):
        c = time.process_time()
        for _ in range(20000):
            m._risk_size(b, per, now)
        best = min(best, time.process_time() - c)
    rig.engine.close()
    return best / 20000 * 1e6


def room_tick(n: int) -> tuple[float, int]:
    """CPU (ms) of the ticks in which a sale fills and gives ``n`` resting buys capped at 3 of
    their 5 by ``maxGrpDayContractsLn`` one more contract of room; and how many of them then
    rest with 4."""
    rig = _rig(n, {"maxGrpDayContractsLn": 3}, False)
    rig.order(secKey={"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": EXPIRY, "xx": 180,
                      "cp": "Put"}, orderSide="Sell", orderSize=1, orderPrcLimit=4.0,
              groupingCode="FFFF-FFFF-FFFF-FFFF", riskGroupId=GROUP)
    c = time.process_time()
    rig.advance(5, 5)
    cpu = time.process_time() - c
    m = rig.engine.manager
    grown = sum(1 for b in m.brokers.values() if b.side > 0
                and sum(x.size for x in b.children.values()) == 4)
    rig.engine.close()
    return cpu * 1e3, grown


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
    for name in ("group", "every scope"):
        print(f"risk check per order, limits {name}: {check_us(VARIANTS[name]):.2f} us CPU; "
              f"{_load()}")
    ms, grown = room_tick(a.orders // 3)
    print(f"a sale gives {a.orders // 3} capped buys room: ticks {ms:.1f} ms CPU, {grown} "
          f"topped up 3 -> 4; {_load()}")


if __name__ == "__main__":
    main()
