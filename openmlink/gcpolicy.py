"""The process's cyclic-garbage-collector policy, set once where a server starts (``runtime``
for ``openmlink serve``, ``gateway.run_server``) and followed by the benches.

CPython's collector is generational: a *full* (generation-2) collection walks every tracked
object of the process, and runs by itself once the objects promoted to generation 2 since the
last one reach 25% of those it found then.  A server whose state grows (working orders, their
records, connections) therefore stops its event loop, now and then, for as long as walking the
whole heap takes: ~40 ms of CPU with 3,000 working orders (issue 11: the PostAck p99 at 1,000
posts/s was that pause).

The policy (inferred; docs/trading.md "Garbage collection"):

- ``start``: one full collection, then ``gc.freeze()``: the start-up objects (schemas,
  kernels, engines, loaded chains) are moved out of the collector's generations.
- ``step``, every ``interval_s`` (0.1 s) on the event loop, between two callbacks: the young
  generations (0 and 1) are collected (cyclic garbage created since the last step is freed
  here), then every survivor is frozen.  ``gc.freeze`` only splices lists (O(1)), so the
  collector's generations never hold more than one interval's survivors and its own full
  collections stay short (they walk generation 2 only, never the frozen objects).
- Frozen objects are still freed by reference counting the moment nothing refers to them
  (a closed order's children, a delivered record): only *cyclic* garbage that formed after its
  objects were frozen waits.  ``major``, every ``major_every_s`` (60 s), brings it back:
  ``gc.unfreeze()``, one full collection, ``gc.freeze()``.  That is the one full walk of the
  heap left, once a minute instead of every few thousand posts (at 1,000 posts/s a 40 ms
  walk delays ~40 of 60,000 posts, far below the 1% a p99 sees); memory stays bounded by
  what is live plus at most one minute of cyclic garbage (a soak's closed connections).

``bulk_done``: a pass over thousands of objects that ran with the collector disabled (the
order manager's re-pricing pass) leaves tens of thousands of young survivors; under an active
policy they are frozen at once, as the next step would, instead of a young collection walking
them (~20 ms CPU after a 10,000-order pass on the loaded development machine).  Without an
active policy (tests, in-process use) it does nothing.

The C heap (glibc's malloc; inferred, found by bench/soak.py): objects over 512 bytes, NumPy
arrays and the bytes of every frame sent are malloc'd. With glibc's defaults a freed block of
128 KiB or more raises the threshold under which blocks come from the heap instead of their own
mapping, so a soak's big transient buffers (a snapshot's frames joined per pull, a scan's row
numbers) end up scattered in the heap, which then only grows: 1,000 clients for 10 minutes took
the heap from 57 to 83 MiB while the bytes in use returned to their start once the clients left.
``start`` therefore fixes that threshold (``MMAP_THRESHOLD``: bigger blocks get their own
mapping, given back when freed) and ``trim`` -- after every major, and every ``trim_every_s``
(10 s) in ``run`` -- calls ``malloc_trim(0)``, which gives the pages of the heap's free chunks
back to the kernel (~1 ms of CPU in the soak): the resident set follows what is in use. Both
are skipped where glibc is absent, and the threshold when the environment already sets one
(``MALLOC_MMAP_THRESHOLD_`` or ``GLIBC_TUNABLES``).

``gc.get_objects()`` does not list frozen objects: a tool that counts live objects in a
process following this policy runs ``major`` first (or ``gc.unfreeze()``) to see them all.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import os
import time

__all__ = ["GcPolicy", "bulk_done", "heap_info"]

#: the policy this process follows (``start``; ``stop``)
_ACTIVE: list[GcPolicy] = []

log = logging.getLogger("openmlink.gcpolicy")

#: (inferred) blocks from this size up get their own mapping (glibc's initial default, kept fixed)
MMAP_THRESHOLD = 128 * 1024
#: (inferred) the heap's top is given back past this much free (``malloc_trim`` does the rest
#: once a minute): not after every large free, which would move the break to and fro
TRIM_THRESHOLD = 8 * 1024 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (``mallopt``, ``malloc_trim``), else None."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.gnu_get_libc_version  # only glibc has it  # noqa: B018
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _glibc()


def fix_heap_thresholds() -> bool:
    """Fix glibc's mmap and trim thresholds (module docstring); False when not done (no glibc,
    or the environment sets them)."""
    if _LIBC is None or "MALLOC_MMAP_THRESHOLD_" in os.environ \
            or "mmap_threshold" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    ok = _LIBC.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = _LIBC.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    if not ok:
        log.warning("mallopt refused the heap thresholds: the heap may grow with fragmentation")
    return ok


def trim_heap() -> bool:
    """Give the pages of the C heap's free chunks back to the kernel (glibc ``malloc_trim``);
    True when some were, False also without glibc."""
    return bool(_LIBC.malloc_trim(0)) if _LIBC is not None else False


class _MallInfo2(ctypes.Structure):
    _fields_ = [(k, ctypes.c_size_t) for k in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                 "usmblks", "fsmblks", "uordblks", "fordblks",
                                                 "keepcost")]


def heap_info() -> dict[str, int] | None:
    """glibc's figures of the C heap (``mallinfo2``, bytes): ``in_use`` (blocks allocated in
    the heap), ``free`` (free chunks the heap holds, in ``chunks`` pieces), ``heap`` (its size),
    ``mmapped`` and ``mmaps`` (blocks with their own mapping); None without glibc (or one older
    than 2.33). Bytes in use that grow while Python's objects and blocks stay flat are held
    below Python (bench/soak.py --debug)."""
    fn = getattr(_LIBC, "mallinfo2", None)
    if fn is None:
        return None
    fn.restype = _MallInfo2
    i = fn()
    return {"in_use": i.uordblks, "free": i.fordblks, "heap": i.arena,
            "mmapped": i.hblkhd, "mmaps": i.hblks, "chunks": i.ordblks}


def bulk_done() -> None:
    """See the module docstring: after a pass with the collector disabled."""
    if _ACTIVE:
        gc.freeze()


class GcPolicy:
    """See the module docstring.  ``major_every_s`` 0: no major collection (tests only)."""

    def __init__(self, interval_s: float = 0.1, major_every_s: float = 60.0,
                 trim_every_s: float = 10.0) -> None:
        if not interval_s > 0:
            raise ValueError(f"GcPolicy interval_s must be > 0 s, not {interval_s}")
        if major_every_s < 0:
            raise ValueError(f"GcPolicy major_every_s must be >= 0 s, not {major_every_s}")
        self.interval_s = interval_s
        #: steps between two major collections (0: never)
        self.major_every = max(1, round(major_every_s / interval_s)) if major_every_s else 0
        self.steps = 0
        self.majors = 0
        #: ``trim_heap`` at least this often in ``run`` (wall seconds; 0: only at majors): a
        #: loaded loop stretches the steps, and with them the minute between two majors
        self.trim_every_s = trim_every_s
        self.trims = 0
        #: CPU milliseconds of the last ``trim`` (for the benches)
        self.trim_ms = 0.0
        self._last_trim = time.monotonic()

    def start(self) -> None:
        """Collect everything once and freeze what survives (the start-up objects); fix the C
        heap's thresholds (module docstring)."""
        gc.collect()
        gc.freeze()
        fix_heap_thresholds()
        _ACTIVE[:] = [self]

    def stop(self) -> None:
        """The process no longer follows this policy (``bulk_done`` does nothing); what is
        frozen stays frozen."""
        if _ACTIVE and _ACTIVE[0] is self:
            _ACTIVE.clear()

    def step(self) -> bool:
        """Collect the young generations and freeze the survivors, or, every
        ``major_every`` steps, run the major collection instead; True when it was a major."""
        self.steps += 1
        if self.major_every and self.steps % self.major_every == 0:
            self.major()
            return True
        gc.collect(1)
        gc.freeze()
        return False

    def major(self) -> None:
        """Unfreeze, collect every generation (cyclic garbage among frozen objects too),
        freeze the survivors again and give the C heap's free pages back (``trim_heap``)."""
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.trim()
        self.majors += 1

    def trim(self) -> None:
        """``trim_heap``, timed (``trim_ms``)."""
        t = time.thread_time()
        trim_heap()
        self.trim_ms = (time.thread_time() - t) * 1000
        self.trims += 1
        self._last_trim = time.monotonic()

    async def run(self) -> None:
        """``step`` every ``interval_s`` until cancelled (a task on the server's loop)."""
        while True:
            await asyncio.sleep(self.interval_s)
            if not self.step() and self.trim_every_s \
                    and time.monotonic() - self._last_trim >= self.trim_every_s:
                self.trim()
