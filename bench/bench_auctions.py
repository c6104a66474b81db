"""Auction figures (issue 13): flash initiation -> AuctionState latency p50/p99 with 50
simulated responders on a live clock and the engines' own timers; concurrent block auctions
sustained with 1 s trials (cost of one trial round, on a SimClock); NoticeResponse posts
accepted per second through the REST handler.  Prints figures; no thresholds.

    python bench/bench_auctions.py [--flash 300] [--blocks 500 1000 2000] [--responses 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import numpy as np
import orjson

from openmlink.runtime import Timers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openmlink.bus import Event
from openmlink.clock import LiveClock
from openmlink.gateway import ApiKeys, Principal, RestApi
from openmlink.trading import AuctionConfig, TradingConfig
from tests.support.auctions import AuctionRig

KEY = "BENCH-0000-0000-0001"
SERIES = 40
EXPIRY = "2099-12-18"  # listed far ahead: the live-clock run must not see it expired


def _market(r: AuctionRig) -> None:
    r.stock("AAPL", 199.9, 200.1)
    for k in range(SERIES):
        r.option("AAPL", 180 + k, "Put", 4.9, 5.1, bsz=50, asz=50, expiry=EXPIRY)


def _auction_order(r: AuctionRig, i: int, kind: str, **extra: object) -> dict:
    code = "-".join(f"{i + 1:016X}"[j:j + 4] for j in range(0, 16, 4))
    return r.order(parentOrderHandling=kind, orderSide="Sell", orderPrcLimit=4.8,
                   orderSize=100, takeReachRule="UpToQty", atsVisibility="SidePrice",
                   groupingCode=code, accnt=f"B{i % 97}",
                   secKey={"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": EXPIRY,
                           "xx": 180 + i % SERIES, "cp": "Put"}, **extra)


def bench_flash(n: int, responders: int) -> None:
    r = AuctionRig(AuctionConfig(sim_responders=responders),
                   TradingConfig(key_rate=0, accnt_rate=0), clock=LiveClock())
    _market(r)
    posted: dict[int, float] = {}
    lat: list[float] = []
    pn_of: dict[int, int] = {}

    def on_state(ev: object) -> None:
        if isinstance(ev, Event):
            pn = pn_of.get(int(ev.rec["noticeNumber"]))
            if pn is not None and pn in posted:
                lat.append(time.perf_counter() - posted.pop(pn))
    r.bus.subscribe("AuctionState", on_state)

    async def run() -> None:
        timers = Timers(r.clock)  # the runtime's timers, as openmlink serve drives the engines
        timers.every(r.engine.config.timer_s, r.engine.tick, name="order manager")
        timers.every(r.auctions.max_sleep_s, r.auctions.tick, name="auction trials")
        timers.start()
        try:
            for i in range(n):
                t = time.perf_counter()
                o = _auction_order(r, i, "FlashAuction")
                posted[o["parentNumber"]] = t
                pn_of[r.notice_of(o["parentNumber"])] = o["parentNumber"]
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)
        finally:
            await timers.stop()
    asyncio.run(run())
    a = np.array(lat) * 1e3
    print(f"flash post -> AuctionState ({responders} simulated responders, window "
          f"{AuctionConfig().flash_window_ms:g} ms, live clock, engine timers): n={len(a)} "
          f"p50={np.percentile(a, 50):.1f} ms p99={np.percentile(a, 99):.1f} ms "
          f"max={a.max():.1f} ms; missing {len(posted)}")


def bench_blocks(k: int, responders: int, seconds: int) -> float:
    r = AuctionRig(AuctionConfig(sim_responders=responders), TradingConfig(key_rate=0,
                                                                          accnt_rate=0))
    _market(r)
    t0 = time.perf_counter()
    for i in range(k):
        _auction_order(r, i, "BlockAuction", activeDuration=300, progressRule="None")
    start_s = time.perf_counter() - t0
    rounds, cpu = [], []
    for _ in range(seconds):
        r.clock.advance_to(r.clock.time_ns() + 1_000_000_000)  # type: ignore[attr-defined]
        t, c = time.perf_counter(), time.process_time()
        r.engine.tick()
        r.auctions.tick()
        rounds.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    live = len(r.auctions.manager.live)
    a = np.array(rounds) * 1e3
    ac = np.array(cpu) * 1e3
    states = len(r.auction_states())
    print(f"block auctions: {k} concurrent ({responders} simulated responders each, {live} "
          f"still live): start {start_s * 1e3 / k:.2f} ms each; one 1 s trial round "
          f"wall p50={np.percentile(a, 50):.0f} ms max={a.max():.0f} ms, CPU "
          f"p50={np.percentile(ac, 50):.0f} ms ({states} AuctionState records) -> sustained at "
          f"1 s trials up to ~{k / (np.percentile(a, 50) / 1e3):,.0f} auctions by wall time, "
          f"~{k / (np.percentile(ac, 50) / 1e3):,.0f} by CPU time")
    return float(np.percentile(a, 50))


def bench_responses(n: int, auctions: int) -> None:
    r = AuctionRig(AuctionConfig(sim_responders=0, max_responses=100_000),
                   TradingConfig(key_rate=0, accnt_rate=0))
    _market(r)
    notices = [r.notice_of(_auction_order(r, i, "BlockAuction", activeDuration=300,
                                          progressRule="None")["parentNumber"])
               for i in range(auctions)]
    keys = ApiKeys()
    keys.add(Principal(KEY))
    api = RestApi(r.reg, r.store, r.bus, keys, r.clock)
    bodies = []
    for i in range(n):
        nn = notices[i % auctions]
        bodies.append(orjson.dumps([{"header": {"mTyp": "NoticeResponse"}, "message": {
            "pkey": {"noticeNumber": "-".join(f"{nn:016X}"[j:j + 4] for j in range(0, 16, 4)),
                     "accnt": f"R{i % 500}", "clientFirm": f"F{i % 50}",
                     "responseId": f"r{i}"},
            "respSide": "Buy", "respSize": 1 + i % 50, "respPrice": 4.5 + (i % 10) * 0.05}}]))
    t0, c0 = time.perf_counter(), time.process_time()
    for body in bodies:
        _st, out = api.handle("POST", [("cmd", "postmsgs"), ("postaction", "I")],
                             {"Authorization": f"Bearer {KEY}"}, body)
        assert b'"OK"' in out, out
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    print(f"NoticeResponse posts accepted: {n} over {auctions} auctions in {dt:.2f} s wall, "
          f"{dc:.2f} s CPU -> {n / dt:,.0f} responses/s by wall time, {n / dc:,.0f} by CPU "
          f"time (REST handler, validator, store, engine, NoticeExecReport)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--flash", type=int, default=300)
    ap.add_argument("--flash-responders", type=int, default=50)
    ap.add_argument("--blocks", type=int, nargs="+", default=[500, 1000, 2000])
    ap.add_argument("--block-responders", type=int, default=8)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--responses", type=int, default=5000)
    a = ap.parse_args()
    print("load average at start: {:.2f} {:.2f} {:.2f} ({} cores)".format(*os.getloadavg(),
                                                                          os.cpu_count()))
    bench_flash(a.flash, a.flash_responders)
    for k in a.blocks:
        bench_blocks(k, a.block_responders, a.seconds)
    bench_responses(a.responses, 100)
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
