"""Cost of the execution revisions (trading/orders/_execs.py): what a fill adds (the owed +1m
mark: one heap push and one dict entry; the journal row with the exact risk vector against the
plain encoded record it replaced) and what a tick pays to take N due marks (one market read
per series, a new version journaled and published per fill).  CPU time (process_time),
ratios against the plain encode in the same process.  Prints figures; no thresholds.

    python bench/bench_execs.py [--fills 20000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import orjson

from openmlink.schema import message_encoder
from openmlink.trading.orders._execs import MARK_NS, ExecBook, fill_row, take_due
from tests.support.trading import TradingRig


def _load() -> str:
    with open("/proc/loadavg") as f:
        return "load " + " ".join(f.read().split()[:3])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fills", type=int, default=20_000)
    n = ap.parse_args().fills
    rig = TradingRig()
    rig.stock("AAPL", 199.9, 200.1)
    rig.option("AAPL", 200, "Put", 4.9, 5.1, asz=20)
    rig.order(orderPrcLimit=5.2, orderSize=4)
    rig.advance(5, 5)
    m = rig.engine.manager
    (fn0, entry), = m.execs.recent.items()
    rec0, per = entry[0], entry[1]
    recs = [{**rec0, "fillNumber": fn0 + i} for i in range(n)]
    mt = m.mt["SpdrParentExecution"]
    enc = message_encoder(mt)

    tracemalloc.start()  # each record with values of its own, as real fills have
    recs = [{**r, "fillPrice": 5.0 + i * 1e-6, "fillDttm": r["fillDttm"] + i,
             "fillBid": 4.9 + i * 1e-6, "fillAsk": 5.1 + i * 1e-6, "fillMark": 5.0 + i * 1e-6,
             "riskDDelta": -8000.0 - i, "timestamp": r["timestamp"] + i}
            for i, r in enumerate(recs)]
    book = ExecBook()
    c = time.process_time()
    for r in recs:
        book.add(r, per, 0.5)
    add = time.process_time() - c
    held = tracemalloc.get_traced_memory()[0]  # the records, entries and heap
    tracemalloc.stop()
    for _round in range(2):  # the second round: the encoder's DateTime texts cached for both
        c = time.process_time()
        for r in recs:
            orjson.dumps(enc(r))
        plain = time.process_time() - c
        c = time.process_time()
        for r in recs:
            fill_row(mt, book.recent[r["fillNumber"]])
        row = time.process_time() - c
    print(f"per fill: owed mark (heap push + entry) {add / n * 1e6:.2f} us CPU; journal row "
          f"{row / n * 1e6:.1f} us vs the plain encoded record {plain / n * 1e6:.1f} us "
          f"(x{row / plain:.2f}); memory held per owed fill (its record, entry, heap) "
          f"{held / n:,.0f} bytes; {_load()}")

    # a tick taking n due marks (one series): journaled rows and published records
    m.execs = book
    m._puts, m._out = [], []
    due = rec0["fillDttm"] + MARK_NS[0] + n
    c = time.process_time()
    take_due(m, due)
    took = time.process_time() - c
    print(f"a tick taking {n} due +1m marks: {took * 1e3:.1f} ms CPU = {took / n * 1e6:.1f} us "
          f"per mark (market read once, new version built, row encoded; publish not counted); "
          f"heap now {len(book.heap)} (+10m owed); {_load()}")
    m._puts, m._out = [], []


if __name__ == "__main__":
    main()
