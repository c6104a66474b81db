"""Process-wide switch of the parallel twins of the engine's row kernels.

The row kernels of ``_quote_rows`` and ``BoundaryTables`` (``_american_grouped``) have a
serial and a parallel (``prange``) twin, chosen by the batch size.  A server that starts on an
empty Numba cache first computes with the serial twins only (compiled first; the parallel ones
later in a child process: see ``warm.StagedWarmUp``): ``set_parallel(False)`` makes those
dispatchers pick the serial twin whatever the batch size until ``set_parallel(True)``."""

from __future__ import annotations

__all__ = ["parallel_enabled", "set_parallel"]

_STATE = {"parallel": True}


def set_parallel(enabled: bool) -> None:
    """Let the dispatchers use the parallel twins (True, the default) or only the serial ones."""
    _STATE["parallel"] = bool(enabled)


def parallel_enabled() -> bool:
    return _STATE["parallel"]
