"""Process-wide switch of the parallel twins of the engine's row kernels, and a per-thread one.

The row kernels of ``_quote_rows`` and ``BoundaryTables`` (``_american_grouped``) have a
serial and a parallel (``prange``) twin, chosen by the batch size.  A server that starts on an
empty Numba cache first computes with the serial twins only (compiled first; the parallel ones
later in a child process: see ``warm.StagedWarmUp``): ``set_parallel(False)`` makes those
dispatchers pick the serial twin whatever the batch size until ``set_parallel(True)``.

``serial_kernels()`` does the same for the calling thread only: the engine's Loop workers
(``engines.implied``) each run whole chunks on one core, two chunks at a time, instead of one
chunk's kernels split over the Numba threads (no barrier waits, no oversubscription when two
threads each open a parallel region)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

__all__ = ["parallel_enabled", "serial_kernels", "set_parallel"]

_STATE = {"parallel": True}
_LOCAL = threading.local()


def set_parallel(enabled: bool) -> None:
    """Let the dispatchers use the parallel twins (True, the default) or only the serial ones."""
    _STATE["parallel"] = bool(enabled)


def parallel_enabled() -> bool:
    return _STATE["parallel"] and not getattr(_LOCAL, "serial", False)


@contextlib.contextmanager
def serial_kernels() -> Iterator[None]:
    """Within the block, the calling thread's dispatchers pick the serial twins."""
    was = getattr(_LOCAL, "serial", False)
    _LOCAL.serial = True
    try:
        yield
    finally:
        _LOCAL.serial = was
