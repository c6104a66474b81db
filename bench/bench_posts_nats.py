"""Client post -> PostAck on a NATS bus (issue 17): the PostAck waits for the JetStream ack
(durable), and posts of a type an engine in another process validates also wait for that
engine's answer.  Prints p50/p99 latency and CPU per post, in-process vs NATS; no thresholds.

Starts its own ``nats-server -js`` (the ``nats`` extra).  In this one process: a gateway
platform (no engines) and a trading-engine platform (the order manager's validators), each on
its own ``NatsBus`` -- so the engine's CPU is counted too (as the figures say).

Usage: python bench/bench_posts_nats.py [posts]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_scale import _start_nats
from openmlink.bus import NatsBus
from openmlink.clock import SimClock
from openmlink.gateway import ApiKeys, Principal
from openmlink.platform import Platform, build_platform
from openmlink.trading import TradingConfig

KEY = "BENCH-POST-0001"
PARAMS = [("cmd", "postmsgs"), ("postAction", "I"), ("apiKey", KEY)]


def _platform(bus: Any, engines: frozenset[str]) -> Platform:
    keys = ApiKeys()
    keys.add(Principal(KEY, user_name="bench"))
    return build_platform(keys, clock=SimClock(1_770_000_000_000_000_000), bus=bus,
                          engines=engines, analytics=False,
                          trading_config=TradingConfig(key_rate=0, accnt_rate=0))


def _span(i: int) -> bytes:
    return orjson.dumps({"header": {"mTyp": "SpanRiskCalculator"}, "message": {
        "pkey": {"secKey": f"AAPL-NMS-EQT-2026-01-16-{100 + i % 50}-C", "secType": "Option",
                 "userName": f"u{i}"}, "vol": 0.2}})


def _order(i: int) -> bytes:
    return orjson.dumps({"header": {"mTyp": "SpdrParentOrder"}, "message": {
        "secKey": {"at": "EQT", "ts": "NMS", "tk": "AAPL"}, "secType": "Stock",
        "accnt": f"B{i}", "orderSide": "Buy", "orderSize": 100, "orderLimitType": "Prc",
        "orderPrcLimit": 150.0, "orderActive": "Active"}})


def _figures(what: str, lat: list[float], cpu: float, n: int) -> None:
    a = np.array(lat) * 1e3
    load = os.getloadavg()[0]
    print(f"{what}: n={n} p50={np.percentile(a, 50):.3f} ms p99={np.percentile(a, 99):.3f} ms "
          f"max={a.max():.3f} ms; CPU {cpu / n * 1e3:.3f} ms per post; load {load:.1f}")


def _inprocess(n: int, body: Any, what: str) -> None:
    plat = _platform(None, frozenset({"trading"}))
    lat = []
    c0 = time.process_time()
    for i in range(n):
        t = time.perf_counter()
        _st, out = plat.rest.handle("POST", PARAMS, {}, body(i))
        lat.append(time.perf_counter() - t)
        assert b'"OK"' in out, out
    _figures(f"in-process {what}", lat, time.process_time() - c0, n)


async def _nats(url: str, n: int) -> None:
    gw = _platform(NatsBus(url, name="gateway"), frozenset())
    eng = _platform(NatsBus(url, name="trading"), frozenset({"trading"}))
    for p in (eng, gw):
        assert isinstance(p.bus, NatsBus)
        await p.bus.connect()
    try:
        for what, body in (("SpanRiskCalculator (JetStream ack)", _span),
                           ("SpdrParentOrder (engine's validators + JetStream ack)", _order)):
            lat = []
            c0 = time.process_time()
            for i in range(n):
                t = time.perf_counter()
                _st, out = await gw.rest.handle_async("POST", PARAMS, {}, body(i))
                lat.append(time.perf_counter() - t)
                assert b'"OK"' in out, out
            _figures(f"NATS {what}", lat, time.process_time() - c0, n)
    finally:
        for p in (gw, eng):
            assert isinstance(p.bus, NatsBus)
            await p.bus.close()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    _inprocess(n, _span, "SpanRiskCalculator")
    _inprocess(n, _order, "SpdrParentOrder")
    with tempfile.TemporaryDirectory(prefix="bench-posts-") as d:
        proc, url = _start_nats(Path(d))
        try:
            asyncio.run(_nats(url, n))
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
