"""Order-manager figures: post -> PostAck latency, sustained posts/s, re-pricing 10,000 working
orders after an underlier move, venue fills per second.  Prints figures; no thresholds.

    python bench/bench_trading.py [--orders 10000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openmlink.gateway import ApiKeys, Principal, RestApi
from openmlink.trading import TradingConfig
from tests.support.trading import EXPIRY, TradingRig

KEY = "BENCH-0000-0000-0001"


def _rig(data_dir: str | None) -> tuple[TradingRig, RestApi]:
    rig = TradingRig(data_dir=data_dir, config=TradingConfig(key_rate=0, accnt_rate=0))
    rig.stock("AAPL", 199.9, 200.1)
    for k in range(40):
        rig.option("AAPL", 180 + k, "Put", 4.9, 5.1)
    keys = ApiKeys()
    keys.add(Principal(KEY))
    return rig, RestApi(rig.reg, rig.store, rig.bus, keys, rig.clock)


def _order(i: int, px: float = 4.8) -> bytes:
    return orjson.dumps([{"header": {"mTyp": "SpdrParentOrder"}, "message": {
        "secKey": {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": EXPIRY, "xx": 180 + i % 40,
                   "cp": "Put"}, "secType": "Option", "accnt": "B", "orderSide": "Buy",
        "spdrActionType": "Add", "orderSize": 5, "orderLimitType": "Prc", "orderPrcLimit": px,
        "groupingCode": "-".join(f"{i:016X}"[j:j + 4] for j in range(0, 16, 4)), "parentShape": "Single"}}])


def bench_posts(n: int, data_dir: str | None) -> None:
    _, api = _rig(data_dir)
    lat = []
    t0 = time.perf_counter()
    for i in range(n):
        body = _order(i)
        t = time.perf_counter()
        _st, out = api.handle("POST", [("cmd", "postmsgs"), ("postaction", "I")],
                             {"Authorization": f"Bearer {KEY}"}, body)
        lat.append(time.perf_counter() - t)
        assert b'"OK"' in out, out
    dt = time.perf_counter() - t0
    a = np.array(lat) * 1e3
    print(f"post->PostAck ({'journal ' + data_dir if data_dir else 'no journal'}): "
          f"n={n} p50={np.percentile(a, 50):.3f} ms p99={np.percentile(a, 99):.3f} ms "
          f"max={a.max():.2f} ms; sustained {n / dt:,.0f} posts/s")


def bench_reprice(n: int) -> None:
    rig, api = _rig(None)
    for i in range(n):
        api.handle("POST", [("cmd", "postmsgs"), ("postaction", "I")],
                   {"Authorization": f"Bearer {KEY}"}, _order(i))
    rig.advance(5, 5)
    m = rig.engine.manager
    print(f"working orders: {sum(1 for b in m.brokers.values() if b.status[0] == 'New')}")
    for move in (0.5, -0.5):
        for k in range(40):  # the underlier moves: every surface point and quote changes
            rig.option("AAPL", 180 + k, "Put", 4.9 + move / 10, 5.1 + move / 10,
                       uprc=200 + move)
        t = time.perf_counter()
        rig.engine.tick()
        dt = time.perf_counter() - t
        print(f"re-price {n} working orders after an underlier move: {dt * 1e3:.1f} ms "
              "(limits, child decisions, cancels/sends, records)")


def bench_fills(n: int) -> None:
    rig, api = _rig(None)
    for i in range(n):
        api.handle("POST", [("cmd", "postmsgs"), ("postaction", "I")],
                   {"Authorization": f"Bearer {KEY}"}, _order(i, px=5.3))
    t = time.perf_counter()
    rig.advance(5, 5)
    for _ in range(5):
        for k in range(40):
            rig.option("AAPL", 180 + k, "Put", 4.9, 5.1, asz=500)
        rig.advance(5, 5)
    dt = time.perf_counter() - t
    nf = rig.engine.manager.fills_published
    print(f"venue fills through the order manager: {nf} fills in {dt:.2f} s = {nf / dt:,.0f} "
          "fills/s (journaled and published)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=10_000)
    ap.add_argument("--posts", type=int, default=3_000)
    args = ap.parse_args()
    bench_posts(args.posts, None)
    with tempfile.TemporaryDirectory() as d:
        bench_posts(args.posts, d)
    bench_reprice(args.orders)
    bench_fills(min(args.orders, 2000))


if __name__ == "__main__":
    main()
