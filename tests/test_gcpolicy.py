"""The process GC policy (``openmlink.gcpolicy``): what its steps collect and freeze, that its
major collection frees cyclic garbage among frozen objects, and that a platform following it
frees a closed order's objects and keeps no more objects per tick as the market moves."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from openmlink import gcpolicy
from openmlink.gcpolicy import GcPolicy, bulk_done
from openmlink.trading import TradingConfig
from tests.support.trading import TradingRig


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    """Every test leaves the process as it found it: nothing frozen."""
    yield
    gcpolicy._ACTIVE.clear()
    gc.unfreeze()
    gc.collect()


class _Node:
    def __init__(self) -> None:
        self.other: Any = None


def _cycle() -> weakref.ref[_Node]:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_a_cycle_dropped_before_a_step_is_freed_by_the_step() -> None:
    p = GcPolicy(major_every_s=0)
    p.start()
    gone = _cycle()  # garbage at once (only the weak reference is kept)
    assert p.step() is False
    assert gone() is None


def test_a_cycle_frozen_alive_waits_for_the_major_collection() -> None:
    p = GcPolicy(interval_s=0.1, major_every_s=0.3)  # a major every third step
    p.start()
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    ref = weakref.ref(a)
    assert p.step() is False  # frozen while alive
    del a, b
    gc.collect()  # an ordinary full collection no longer walks frozen objects
    assert ref() is not None
    assert p.step() is False
    assert ref() is not None
    assert p.step() is True  # the major: unfreeze, collect, freeze
    assert ref() is None and p.majors == 1


def test_an_acyclic_frozen_object_is_freed_when_its_last_reference_goes() -> None:
    p = GcPolicy(major_every_s=0)
    p.start()
    box = _Node()
    ref = weakref.ref(box)
    p.step()
    del box
    assert ref() is None  # reference counting: no collection needed


def _in_generations(obj: object) -> bool:
    """True while ``obj`` sits in one of the collector's generations (``gc.get_objects`` lists
    every tracked object except the frozen ones)."""
    return any(o is obj for o in gc.get_objects())


def test_bulk_done_freezes_only_under_an_active_policy() -> None:
    """Identity checks, not freeze counts: frozen objects of earlier tests die meanwhile."""
    box = [_Node()]  # a young tracked object
    bulk_done()  # no policy: the collector keeps it
    assert gc.is_tracked(box) and _in_generations(box)
    p = GcPolicy(major_every_s=0)
    p.start()
    box2 = [_Node()]
    assert _in_generations(box2)
    bulk_done()
    assert not _in_generations(box2) and not _in_generations(box2[0])  # the list and its node: frozen at once
    p.stop()
    box3 = [_Node()]
    bulk_done()
    assert _in_generations(box3)
    del box, box2, box3


def test_bad_settings_are_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        GcPolicy(interval_s=0)
    with pytest.raises(ValueError, match="major_every_s"):
        GcPolicy(major_every_s=-1)


def _count(*types: type) -> dict[str, int]:
    """Live instances of ``types`` after everything is unfrozen and collected."""
    gc.unfreeze()
    gc.collect()
    out = dict.fromkeys((t.__name__ for t in types), 0)
    for o in gc.get_objects():
        for t in types:
            if type(o) is t:
                out[t.__name__] += 1
    return out


def _served(tmp_path: Any) -> TradingRig:
    rig = TradingRig.served(tmp_path, TradingConfig(key_rate=0, accnt_rate=0))
    rig.stock("AAPL", 199.9, 200.1)
    for k in range(10):
        rig.option("AAPL", 195 + k, "Put", 4.9, 5.1)
    return rig


def test_closed_orders_children_are_freed_under_the_policy(tmp_path: Any) -> None:
    from openmlink.trading.orders import Child

    rig = _served(tmp_path)
    p = GcPolicy(major_every_s=0)  # no major: reference counting alone must free them
    p.start()
    sec = {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": "2025-07-18", "cp": "Put"}
    n = 60
    for i in range(n):
        rig.order(secKey={**sec, "xx": 195 + i % 10}, orderPrcLimit=4.8,
                  groupingCode=f"0000-0000-0000-{i:04X}")
        if i % 10 == 9:
            rig.advance(20)
            p.step()
    rig.advance(50, 5)
    p.step()
    m = rig.engine.manager
    live = sum(len(b.children) for b in m.brokers.values())
    assert live >= n  # every order works at least one child, frozen by the steps
    assert _count(Child)["Child"] >= n
    gc.freeze()
    for i in range(n):
        rig.order(secKey={**sec, "xx": 195 + i % 10}, orderPrcLimit=4.8, spdrActionType="Cancel",
                  groupingCode=f"0000-0000-0000-{i:04X}")
    rig.advance(50, 5)
    p.step()
    assert all(b.status[1] == "Closed" for b in m.brokers.values())
    assert not m.owner
    assert _count(Child)["Child"] == 0


def test_no_objects_accumulate_per_tick_while_the_market_moves(tmp_path: Any) -> None:
    rig = _served(tmp_path)
    p = GcPolicy(major_every_s=0)
    p.start()
    sec = {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": "2025-07-18", "cp": "Put"}
    for i in range(40):
        rig.order(secKey={**sec, "xx": 195 + i % 10}, orderPrcLimit=5.0,
                  groupingCode=f"0000-0000-0000-{i:04X}")
    rig.advance(50, 5)

    def run(ticks: int) -> None:
        for t in range(ticks):
            move = 0.01 * (t % 4)  # every child follows the bid: modifies, confirmations
            for k in range(10):
                rig.option("AAPL", 195 + k, "Put", 4.9 + move, 5.1 + move, uprc=200 + move)
            rig.advance(20)
            p.step()

    run(40)  # caches and tables reach their steady size
    first = _tracked()
    run(80)
    second = _tracked()
    assert second - first < 400, (first, second)  # < 1 object per broker per 10 ticks


def _tracked() -> int:
    gc.unfreeze()
    gc.collect()
    n = len(gc.get_objects())
    gc.freeze()
    return n


# ---------------------------------------------------------------- the C heap (glibc)
# Run in a child process: the thresholds are process-wide and RSS must be the child's alone.
_HEAP_SCRIPT = r'''
import ctypes, json, os, sys
from openmlink import gcpolicy
from openmlink.gcpolicy import GcPolicy

class Info(ctypes.Structure):
    _fields_ = [(k, ctypes.c_size_t) for k in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                 "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
mallinfo2.restype = Info

def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

out = {}
p = GcPolicy(major_every_s=0)
if sys.argv[1] == "policy":
    p.start()
# a freed block of 1 MiB: glibc's dynamic threshold would now put 200 KiB blocks in the heap
big = bytearray(1 << 20)
del big
before = mallinfo2().hblks
block = bytearray(200 * 1024)
out["own_mapping"] = mallinfo2().hblks == before + 1
del block
# 60 MB of 100 KB blocks, each pinned in place by a small survivor after it, then freed: the
# heap cannot shrink from its top, its free chunks stay resident until trimmed
keep, drop = [], []
for _ in range(600):
    drop.append(b"x" * 100_000)  # written: resident (bytes(n) may come zeroed, untouched)
    keep.append(b"k" * 600)
full = rss()
drop.clear()
freed = rss()
if sys.argv[1] == "policy":
    p.major()
else:
    import gc
    gc.collect()
out["freed_mb"] = (full - freed) / 1e6
out["trimmed_mb"] = (freed - rss()) / 1e6
print(json.dumps(out))
'''


def _heap_run(mode: str, **env: str) -> dict[str, Any]:
    import json
    import os
    import subprocess
    import sys

    from tests.support.paths import REPO
    r = subprocess.run([sys.executable, "-c", _HEAP_SCRIPT, mode], capture_output=True, text=True,
                       timeout=120, cwd=REPO, env={**os.environ, **env})
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


@pytest.mark.skipif(gcpolicy._LIBC is None, reason="the heap policy is glibc's")
def test_the_policy_keeps_big_blocks_out_of_the_heap_and_gives_free_heap_pages_back() -> None:
    """bench/soak.py's growing RSS (issue 19): transient big buffers scattered in the heap by
    glibc's dynamic mmap threshold, and free heap chunks that stayed resident."""
    on = _heap_run("policy")
    assert on["own_mapping"], on  # fixed threshold: a 200 KiB block gets its own mapping
    # ~60 MB of free chunks between survivors: resident until the major collection trims them
    assert on["freed_mb"] + on["trimmed_mb"] > 45, on
    off = _heap_run("none")  # glibc's defaults, no start: what the policy changes
    assert not off["own_mapping"], off
    assert off["freed_mb"] + off["trimmed_mb"] < 30, off
    # an environment that sets its own threshold keeps it
    env = _heap_run("policy", MALLOC_MMAP_THRESHOLD_="4194304")
    assert not env["own_mapping"], env


def test_run_trims_the_heap_on_its_own_cadence_between_majors() -> None:
    """A loaded loop stretches the 0.1 s steps (a 10-minute soak at load 20 ran 3 majors), so
    ``run`` trims by wall time too."""
    import asyncio

    p = GcPolicy(interval_s=0.01, major_every_s=0, trim_every_s=0.05)

    async def main() -> None:
        task = asyncio.create_task(p.run())
        await asyncio.sleep(0.5)
        task.cancel()

    asyncio.run(main())
    assert p.majors == 0
    assert 3 <= p.trims <= 11, p.trims
    never = GcPolicy(interval_s=0.01, major_every_s=0, trim_every_s=0)

    async def idle() -> None:
        task = asyncio.create_task(never.run())
        await asyncio.sleep(0.2)
        task.cancel()

    asyncio.run(idle())
    assert never.trims == 0
