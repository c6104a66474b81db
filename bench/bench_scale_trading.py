"""Order manager failover time (issue 17), real processes: a market, a gateway and two
``--role engine trading`` processes on a ``nats-server``; ``orders`` resting orders and one
filled are posted, the holder of the trading lease is SIGKILLed, and this prints

* seconds from the SIGKILL until the standby holds the lease (its ``/health`` says
  ``holder``; polled every 20 ms) and how long its restore from the journal took (its log);
* seconds from the SIGKILL until a marketable order posted right after it (re-posted while
  posts are refused) is filled, as seen at the gateway;
* whether every order and fill of before is there, unchanged;

with the standby's CPU seconds and the load average.  Used by ``bench/bench_scale.py``
(failover part); alone: ``python bench/bench_scale_trading.py [--orders N]``."""

from __future__ import annotations

import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).parent))
import bench_scale_procs as bp

from tests.support.nats import NatsServer


def _order(side: str, size: int, price: float, accnt: str) -> dict[str, Any]:
    return {"header": {"mTyp": "SpdrParentOrder"},
            "message": {"secKey": {"at": "EQT", "ts": "NMS", "tk": "AAPL"}, "secType": "Stock",
                        "accnt": accnt, "orderSide": side, "orderSize": size,
                        "orderLimitType": "Prc", "orderPrcLimit": price,
                        "spdrActionType": "Add", "orderActive": "Active"}}


def _post(p: bp.Proc, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    r = requests.post(f"{p.base}/rest/json", params={"apiKey": bp.KEY, "cmd": "postmsgs",
                                                     "postAction": "I"}, json=orders, timeout=60)
    return [m["message"] for m in r.json() if m.get("header", {}).get("mTyp") == "PostAck"]


def _role(p: bp.Proc) -> str:
    try:
        return str(requests.get(f"{p.base}/health", timeout=2).json().get("trading"))
    except (requests.RequestException, ValueError):
        return ""


def _fills(p: bp.Proc) -> dict[str, tuple[str, int, float]]:
    return {str(e["pkey"]["fillNumber"]): (str(e["parentNumber"]), int(e["fillQuantity"]),
                                           float(e["fillPrice"]))
            for e in bp.rows(p, "SpdrParentExecution")}


def trading_failover(nats_url: str, orders: int = 200) -> float:
    """Prints the figures; returns the seconds from the SIGKILL until the standby holds the
    lease (NaN when the run could not get there)."""
    print(f"\ntrading failover: two trading processes, {orders} resting orders, the lease "
          "holder SIGKILLed")
    with bp.platform(nats_url) as (procs, logs):
        pre = "tfo"
        common = ("--bus-prefix", pre, "--universe", "small")
        procs.append(bp.Proc(nats_url, logs, "market", "--role", "market", *common))
        t1 = bp.Proc(nats_url, logs, "t1", "--role", "engine", "trading", *common)
        procs.append(t1)
        if not bp.wait(lambda: _role(t1) == "holder", 60, 0.1):
            print("  t1 never took the trading lease")
            return float("nan")
        t2 = bp.Proc(nats_url, logs, "t2", "--role", "engine", "trading", *common)
        gw = bp.Proc(nats_url, logs, "gw", "--role", "gateway", *common)
        procs.extend([t2, gw])

        def quote() -> dict[str, Any] | None:
            q = [r["message"] for r in gw.get(cmd="getmsgs", msgType="StockBookQuote",
                                               where="ticker.tk:eq:AAPL")
                 if r.get("header", {}).get("mTyp") == "StockBookQuote"]
            return q[0] if q and q[0].get("askPrice1", 0) > 0 else None
        q = bp.wait(quote, 60, 0.2)
        if q is None or _role(t2) != "standby":
            print("  no AAPL quote at the gateway, or t2 not standing by")
            return float("nan")
        take, rest = round(q["askPrice1"] * 1.01, 2), round(q["bidPrice1"] * 0.9, 2)
        acks = _post(gw, [_order("Buy", 100, take, "F0")]
                     + [_order("Buy", 100, rest, f"R{i}") for i in range(orders)])
        if any(a["result"] != "OK" for a in acks):
            print(f"  posts refused: {[a for a in acks if a['result'] != 'OK'][:2]}")
            return float("nan")
        if not bp.wait(lambda: len(bp.rows(gw, "SpdrParentBrkrState")) >= orders + 1
                       and _fills(gw), 120, 0.5):
            print("  the orders were not all worked")
            return float("nan")
        before = _fills(gw)
        cpu0 = t2.cpu_s()
        lease_at: list[float] = []

        def watch() -> None:  # the standby's /health, polled from the kill on
            while time.monotonic() - t0 < 30 and not lease_at:
                if _role(t2) == "holder":
                    lease_at.append(time.monotonic() - t0)
                time.sleep(0.02)
        watcher = threading.Thread(target=watch, daemon=True)
        t0 = time.monotonic()
        t1.proc.kill()
        watcher.start()
        race_ok = None
        refused = 0
        while race_ok is None and time.monotonic() - t0 < 30:
            a = _post(gw, [_order("Buy", 100, take, "RACE")])[0]
            if a["result"] == "OK":
                race_ok = str(a["pkey"])
            else:
                refused += 1
                time.sleep(0.05)
        t_post = time.monotonic() - t0
        watcher.join(31)
        t_lease = lease_at[0] if lease_at else float("nan")
        t_fill = bp.wait(lambda: race_ok is not None and race_ok in {
            pn for pn, _q, _p in _fills(gw).values()} and time.monotonic() - t0, 60, 0.05)
        after = _fills(gw)
        kept = all(after.get(k) == v for k, v in before.items())
        restore = re.search(r"orders restored from the journal .* in ([0-9.]+) s",
                            (logs / "t2.log").read_text())
        print(f"  standby holds the lease {t_lease:.2f} s after the SIGKILL (lease 2 s); its "
              f"restore took {restore.group(1) if restore else '?'} s")
        print(f"  a marketable order posted right after the kill: accepted {t_post:.2f} s after "
              f"it ({refused} posts refused meanwhile: a check is asked again until the new "
              f"holder answers, at most 4.5 s), filled {t_fill:.2f} s after the kill")
        print(f"  fills before the kill kept unchanged: {kept} ({len(before)} fills, "
              f"{len(after)} after); standby CPU {t2.cpu_s() - cpu0:.2f} s since the kill; "
              f"{bp.load()}")
        return t_lease


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=200)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scale-trading-") as d:
        srv = NatsServer(Path(d))
        try:
            trading_failover(srv.url, a.orders)
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
