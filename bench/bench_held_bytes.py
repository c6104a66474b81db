"""What it costs to keep ``orjson.dumps`` results, and what ``schema.fitted`` saves.

orjson (3.12 on) returns each result inside the buffer it wrote it in (4 KiB at least), so a
result that is kept -- a History version waiting in its pending batch, a journal row waiting
for a group commit, a control record in a stalled client's outbox -- holds that buffer.
Prints, for a SpdrParentOrder History body and a SpdrParentBrkrState-sized body: the CPU per
``dumps`` and per ``fitted(dumps)`` (same process, interleaved rounds, median), and the C heap
(glibc ``mallinfo2`` in use) a batch of ``PENDING_MAX`` kept results holds either way.
Usage: python bench/bench_held_bytes.py
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import orjson

from openmlink.gcpolicy import heap_info
from openmlink.schema import decode_record, encode_message, fitted, registry
from openmlink.srse._history import PENDING_MAX


def _cpu_us(fn: Any, arg: Any, reps: int = 20_000) -> float:
    t = time.process_time()
    for _ in range(reps):
        fn(arg)
    return (time.process_time() - t) / reps * 1e6


def _held(fn: Any, body: Any) -> float:
    """C heap bytes per result of ``fn(body)`` over a batch of PENDING_MAX kept results."""
    before = heap_info()["in_use"]  # type: ignore[index]
    kept = [fn(body) for _ in range(PENDING_MAX)]
    grown = heap_info()["in_use"] - before  # type: ignore[index]
    del kept
    return grown / PENDING_MAX


def main() -> None:
    reg = registry()
    order = encode_message(reg["SpdrParentOrder"], decode_record(reg["SpdrParentOrder"], {
        "parentNumber": 12345, "accnt": "A", "clientFirm": "F", "orderSize": 7}))
    big = {**order, "spdrComment": "x" * 600, "notes": list(range(60))}
    if heap_info() is None:
        print("glibc's mallinfo2 is not available: heap figures left out")

    def plain(b: Any) -> bytes:
        return orjson.dumps(b)

    def kept(b: Any) -> bytes:
        return fitted(orjson.dumps(b))

    for name, body in (("SpdrParentOrder", order), ("~1 KiB body", big)):
        rounds = [(_cpu_us(plain, body), _cpu_us(kept, body)) for _ in range(7)]
        a = statistics.median(r[0] for r in rounds)
        b = statistics.median(r[1] for r in rounds)
        line = (f"{name} ({len(orjson.dumps(body))} bytes): dumps {a:.3f} us CPU, fitted(dumps) "
                f"{b:.3f} us (+{b - a:.3f} us)")
        if heap_info() is not None:
            ha, hb = _held(plain, body), _held(kept, body)
            line += (f"; C heap per kept result {ha:,.0f} -> {hb:,.0f} bytes, a batch of "
                     f"{PENDING_MAX:,}: {ha * PENDING_MAX / 2**20:.1f} -> "
                     f"{hb * PENDING_MAX / 2**20:.2f} MiB")
        print(line)
    with open("/proc/loadavg") as f:
        print("load", f.read().split()[0])


if __name__ == "__main__":
    main()
