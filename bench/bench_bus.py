"""Bus benchmark: single-record publishes through the in-process bus with the store attached
(the path of every client post and of engines' Event output), with and without a validator on
the type, and a REST postmsgs of 1,000 records through the sans-I/O handler.

Prints publishes per second and the REST post time (median of repeats).
Usage: python bench/bench_bus.py [n]
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import orjson

from openmlink.bus import Event, InProcessBus
from openmlink.clock import LiveClock
from openmlink.gateway import ApiKeys, Principal, RestApi
from openmlink.schema import TickerKey, registry
from openmlink.store import Store


def _publish_rate(n: int, validator: bool) -> float:
    reg = registry()
    mt = reg["TickerItemDef"]
    bus = InProcessBus()
    Store(reg).attach(bus)
    seen: list[int] = [0]

    def handler(msg: Any) -> None:
        seen[0] += 1

    bus.subscribe(mt.name, handler)
    if validator:
        bus.add_validator(mt.name, lambda m: None)
    recs = [{"ticker": TickerKey("EQT", "NMS", f"T{i % 500}"), "basketNumber": i, "userName": "u"}
            for i in range(n)]
    t0 = time.perf_counter()
    for i, r in enumerate(recs):
        bus.publish(Event(mt, "upsert", r, i + 1, origin="u"))
    dt = time.perf_counter() - t0
    assert seen[0] == n
    return n / dt


def _rest_post_ms(repeats: int = 7) -> float:
    reg = registry()
    bus = InProcessBus()
    store = Store(reg)
    store.attach(bus)
    keys = ApiKeys()
    keys.add(Principal("K"))
    api = RestApi(reg, store, bus, keys, LiveClock())
    out = []
    for r in range(repeats):
        body = orjson.dumps([{"header": {"mTyp": "TickerItemDef"},
                              "message": {"pkey": {"ticker": f"T{i}-NMS-EQT", "basketNumber": r,
                                                   "userName": "u"}}} for i in range(1000)])
        t0 = time.perf_counter()
        status, reply = api.handle("POST", [("cmd", "postmsgs"), ("postaction", "I"), ("apiKey", "K")],
                                   {}, body)
        out.append((time.perf_counter() - t0) * 1e3)
        assert status == 200 and reply.count(b'"OK"') == 1000
    return statistics.median(out)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    _publish_rate(1000, False)  # warm
    print(f"bus publish (store + 1 handler): {_publish_rate(n, False):,.0f} /s")
    print(f"bus publish (store + 1 handler + 1 validator): {_publish_rate(n, True):,.0f} /s")
    print(f"REST postmsgs of 1,000 records: {_rest_post_ms():.1f} ms (median)")


if __name__ == "__main__":
    main()
