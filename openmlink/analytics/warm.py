"""Compile (and cache) every analytics kernel ahead of first use.

Run at install / CI / container-build time:  python -m openmlink.analytics.warm
Numba writes the machine code to its cache (NUMBA_CACHE_DIR, else __pycache__ next to the
sources), so later processes load it in well under a second instead of compiling (a cold
European row + implied vol compiles in about 5 s; the American, dividend and greek kernels add
about 10 s more).  Without warming, kernels still compile lazily on first use: each public call
compiles only the kernels it dispatches to.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

__all__ = ["STAGES", "StagedWarmUp", "main", "stage_cached", "warm", "warm_first", "warm_up"]


def warm(american: bool = True) -> float:
    """Call each public entry point once on a tiny input; returns the seconds spent."""
    t0 = time.perf_counter()
    from . import _api as a

    a.price_greeks_slides(100.0, 100.0, 1.0, 0.05, 0.0, 0.2, 1)
    a.price(100.0, 100.0, 1.0, 0.05, 0.0, 0.2, 1)
    a.implied_vol(5.0, 100.0, 100.0, 1.0, 0.05, 0.0, 1)
    if american:
        divs = ([0.5], [1.0])
        a.price(100.0, 100.0, 1.0, 0.05, 0.0, 0.2, -1, exercise="american")
        a.implied_vol(6.0, 100.0, 100.0, 1.0, 0.05, 0.0, -1, exercise="american")
        a.greeks(100.0, 100.0, 1.0, 0.05, 0.0, 0.2, -1, exercise="american")
        a.price(100.0, 100.0, 1.0, 0.05, 0.0, 0.2, -1, exercise="american", dividends=divs)
        a.implied_vol(6.0, 100.0, 100.0, 1.0, 0.05, 0.0, -1, exercise="american",
                      dividends=divs)
        a.greeks(100.0, 100.0, 1.0, 0.05, 0.0, 0.2, -1, exercise="american", dividends=divs)
        a.price_greeks_slides(100.0, 100.0, 1.0, 0.05, 0.0, 0.2, 1, dividends=divs)
    return time.perf_counter() - t0


def warm_up() -> None:
    """Compile (or load from the Numba cache) every kernel the implied-quote engine uses, on a
    tiny input, so that a server can do it in a background thread before the engine computes
    (with the ALO greek rows of ``EngineConfig.american_greeks = "alo"``, the default)."""
    import numpy as np

    from . import SLIDE_MOVES, implied_vol, price, price_greeks_slides
    from ._american_grouped import BoundaryTables, american_prices
    from ._american_rows import american_rows
    from ._baw import baw_deamericanised_iv, baw_price, baw_rows
    from ._quote_rows import amer_deam_iv, american_parity_forward, b76_implied_vol, b76_rows, parity_forward
    from ._svi import fit_svi

    s = np.array([100.0, 100.0])
    k = np.array([95.0, 105.0])
    t = np.array([0.1, 0.1])
    r = np.array([0.04, 0.04])
    v = np.array([0.2, 0.2])
    c = np.array([1.0, -1.0])
    p = price(s, k, t, r, r, v, c)
    implied_vol(p, s, k, t, r, r, c)
    implied_vol(p, s, k, t, r, r, c, model="black76")
    price_greeks_slides(s, k, t, r, r, v, c, model="black76")
    baw_price(s, k, t, r, r * 0, v, c)
    baw_rows(s, k, t, r, r * 0, v, c, SLIDE_MOVES)
    baw_deamericanised_iv(p, s, k, t, r, r * 0, c, v)
    b76_implied_vol(p, s, k, t, r, c)
    b76_rows(s, k, t, r, v, c, SLIDE_MOVES)
    # the parallel twins of the kernels above (batches of at least _PAR_MIN rows)
    big = 5000
    sb, kb, tb, rb, vb, cb = (np.resize(a, big) for a in (s, k, t, r, v, c))
    pb = np.resize(p, big)
    b76_implied_vol(pb, sb, kb, tb, rb, cb)
    b76_rows(sb, kb, tb, rb, vb, cb, SLIDE_MOVES)
    baw_price(sb, kb, tb, rb, rb * 0, vb, cb)
    baw_rows(sb, kb, tb, rb, rb * 0, vb, cb, SLIDE_MOVES)
    baw_deamericanised_iv(pb, sb, kb, tb, rb, rb * 0, cb, vb)
    # American values of the engine (boundary tables, the row-by-row twin for small groups)
    american_prices(s, k, t, r, r * 0, v, c, np.zeros(2, np.int64))
    price(s, k, t, r, r * 0, v, c, exercise="american")  # the row-by-row fallback of the tables
    for m, nt in ((40, 3), (2100, 6)):  # serial and parallel twins (12 tables: parallel build)
        many = np.linspace(90.0, 110.0, m)
        tt = np.repeat(np.arange(1, nt + 1) / 10.0, m // nt + 1)[:m]
        BoundaryTables(max_tables=8).prices(np.full(m, 100.0), many, tt, np.full(m, 0.04),
                                            np.full(m, 0.01), np.linspace(0.2, 0.3, m),
                                            np.where(many > 100.0, 1.0, -1.0))
    # ALO greek rows: shared tables (serial and parallel twins, slope tables built in parallel)
    # and a lone row's own tables
    for m, nt in ((40, 3), (1100, 4)):
        many = np.linspace(90.0, 110.0, m)
        tt = np.repeat(np.arange(1, nt + 1) / 10.0, m // nt + 1)[:m]
        american_rows(BoundaryTables(max_tables=8), np.full(m, 100.0), many, tt, np.full(m, 0.04),
                      np.full(m, 0.01), np.linspace(0.2, 0.3, m), np.where(many > 100.0, 1.0, -1.0),
                      SLIDE_MOVES)
    american_rows(BoundaryTables(max_tables=8), s, k, t, r, r * 0, v, -c, SLIDE_MOVES)
    amer_deam_iv(p, s, k, t, r, r * 0, c, v)
    american_parity_forward(np.array([100.0, 100.0]), np.array([0, 1], np.int8), np.array([2.0, 1.9]),
                            np.array([2.1, 2.0]), np.array([0, 2]), np.array([0.99]), np.array([100.0]),
                            np.array([0.25]), np.array([100.5]))
    kk = np.tile(np.linspace(-0.2, 0.2, 8), 300)
    fit_svi(kk, 0.01 + 0.1 * kk * kk, np.ones(len(kk)), np.arange(0, len(kk) + 1, 8))
    strikes = np.repeat(np.arange(big // 2, dtype=np.float64) + 50.0, 2)
    parity_forward(strikes, np.tile(np.array([0, 1], np.int8), big // 2), np.full(big, 2.0),
                   np.full(big, 2.1), np.array([0, big]), np.array([0.99]))
    kk = np.linspace(-0.2, 0.2, 8)
    fit_svi(kk, 0.01 + 0.1 * kk * kk, np.ones(8), np.array([0, 8]))
    parity_forward(np.array([100.0, 100.0]), np.array([0, 1], np.int8), np.array([2.0, 1.9]),
                   np.array([2.1, 2.0]), np.array([0, 2]), np.array([0.99]))


def warm_first_rows() -> None:
    """The Black-76 price + greeks + slides rows of ``warm_first`` (the fused row kernel)."""
    import numpy as np

    from . import SLIDE_MOVES
    from ._quote_rows import b76_rows

    b76_rows(np.array([100.0, 100.0]), np.array([95.0, 105.0]), np.array([0.1, 0.1]),
             np.array([0.04, 0.04]), np.array([0.2, 0.2]), np.array([1.0, -1.0]), SLIDE_MOVES)


def warm_first_iv() -> None:
    """The Black-76 implied vols of ``warm_first`` (Let's Be Rational)."""
    import numpy as np

    from ._quote_rows import b76_implied_vol

    b76_implied_vol(np.array([6.5, 4.0]), np.array([100.0, 100.0]), np.array([95.0, 105.0]),
                    np.array([0.1, 0.1]), np.array([0.04, 0.04]), np.array([1.0, -1.0]))


def warm_first_fits() -> None:
    """The parity forwards and SVI fits of ``warm_first`` (no kernel shared with
    ``warm_first_rows`` or ``warm_first_iv``: the three compile in separate processes at
    once)."""
    import numpy as np

    from ._quote_rows import parity_forward
    from ._svi import fit_svi

    parity_forward(np.array([100.0, 100.0]), np.array([0, 1], np.int8), np.array([2.0, 1.9]),
                   np.array([2.1, 2.0]), np.array([0, 2]), np.array([0.99]))
    kk = np.linspace(-0.2, 0.2, 8)
    fit_svi(kk, 0.01 + 0.1 * kk * kk, np.ones(8), np.array([0, 8]))


def warm_first() -> None:
    """Compile (or load) the kernels of a server's first, preliminary pass: the serial twins of
    the European row kernels (parity forwards, Black-76 implied vols, price + greeks + slides)
    and of the SVI fit.  With ``set_parallel(False)`` and every root treated as European, the
    engine needs nothing else (``ImpliedQuoteEngine.preliminary``)."""
    warm_first_rows()
    warm_first_iv()
    warm_first_fits()


STAGES: dict[str, Callable[[], object]] = {
    "first": warm_first, "first-rows": warm_first_rows, "first-iv": warm_first_iv,
    "first-fits": warm_first_fits,
    "engine": warm_up, "all": warm}
"""What ``python -m openmlink.analytics.warm --stage NAME`` compiles."""
FIRST_PARTS = ("first-rows", "first-iv", "first-fits")
"""The first stage in three disjoint parts (no dispatcher in two), compiled by three processes
at once: together they take about as long as the simulator's own ALO kernels, compiled
meanwhile in the server (balanced over two cores, not one long child)."""


def _stage_kernels(stage: str) -> list[object]:
    """Dispatchers whose cache entries show that a stage was compiled (a sample: the largest)."""
    from . import _american_grouped as ag
    from . import _american_rows as ar
    from . import _baw, _black, _lbr, _svi
    from . import _quote_rows as qr

    parts: dict[str, list[object]] = {"first-rows": [_black.euro_rows_kernel],
                                      "first-iv": [_lbr.euro_iv_kernel],
                                      "first-fits": [qr._parity_serial, _svi._fit_all_serial]}
    if stage in parts:
        return parts[stage]
    if stage == "first":
        return [d for part in parts.values() for d in part]
    return [qr._b76_iv_par, qr._b76_rows_par, qr._parity, _svi._fit_all, _baw._rows_kernel,
            _baw._deam_kernel, ag._build_nodes, ag._eval_rows, ag._eval_rows_serial,
            ar._rows_par, ar._rows_serial]


def stage_cached(stage: str) -> bool:
    """True when the Numba cache holds entries for the current sources of the stage's main
    kernels (loading them then takes well under a second: no compiler process is needed).  A
    heuristic: a stage found cached but partly stale compiles the rest in process."""
    try:
        return all(bool(d._cache._cache_file._load_index())  # type: ignore[attr-defined]
                   for d in _stage_kernels(stage))
    except (AttributeError, OSError, ValueError):  # another Numba's internals: ask a child
        return False


class StagedWarmUp:
    """A server's warm-up in two stages, each compiled in a child Python process
    (``python -m openmlink.analytics.warm --stage ...``, this process's environment, so the same
    NUMBA_CACHE_DIR) and then loaded here from the Numba cache, so that the compiler never
    holds this process's GIL for long and the other core does the work:

    * ``start()`` (at once, before the market source compiles its own kernels in this process)
      launches the three children of the first stage (``warm_first``: serial European kernels,
      in the disjoint parts ``FIRST_PARTS``); disjoint from the simulator's ALO kernels, so all compile
      at the same time;
    * ``first()`` waits for it and loads that stage: the engine can publish preliminary rows;
    * ``rest()`` compiles the engine's other kernels (``warm_up``: American, BAW, parallel
      twins) in a second child, then loads them.

    A child that fails is reported through ``say`` and its stage compiled in process (slower,
    never silently wrong).  A stage already in the cache (``stage_cached``) is loaded in
    process at once, no child.
    Processes compiling at the same time never share a kernel (a Numba dispatcher): Numba
    numbers a function's cache entries per process, so two processes adding different
    signatures of one function at once could leave its index pointing at the other's code."""

    def __init__(self, say: Callable[[str], None] | None = None) -> None:
        self.say = say or (lambda line: print(line, file=sys.stderr))
        self._first: list[tuple[str, subprocess.Popen[str] | None]] = []
        self._started = False
        self._procs: list[subprocess.Popen[str]] = []
        self._closed = False

    def _spawn(self, stage: str) -> subprocess.Popen[str] | None:
        if stage_cached(stage):
            return None  # loaded in process at once
        try:
            proc = subprocess.Popen([sys.executable, "-m", "openmlink.analytics.warm", "--stage",
                                     stage], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True, env=dict(os.environ))
        except OSError as e:
            self.say(f"analytics: cannot start the kernel compiler process ({stage}: {e}); "
                     "compiling in process")
            return None
        self._procs.append(proc)
        return proc

    def start(self) -> None:
        """Launch the first stage's compiler process (once)."""
        if not self._started:
            self._started = True
            self._first = [(st, self._spawn(st)) for st in FIRST_PARTS]

    def close(self) -> None:
        """End the compiler processes still running (a server stopping during its warm-up)."""
        self._closed = True
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()

    def _finish(self, stage: str, proc: subprocess.Popen[str] | None) -> bool:
        why = None
        if proc is not None:
            _out, err = proc.communicate()
        if self._closed:
            return False
        if proc is not None:
            if proc.returncode != 0:
                lines = err.strip().splitlines()
                why = f"exit status {proc.returncode}: {lines[-1] if lines else 'no message'}"
        if why is not None:
            self.say(f"analytics: the kernel compiler process ({stage}) failed ({why}); "
                     "compiling in process")
        STAGES[stage]()
        return True

    def first(self) -> bool:
        """Blocks until the first stage's kernels are loaded (compiled by the child of
        ``start()``, started here if it was not); False if ``close()`` came first."""
        self.start()
        return all([self._finish(st, proc) for st, proc in self._first])

    def rest(self) -> bool:
        """Blocks until every kernel of the engine is loaded (compiled by a second child);
        False if ``close()`` came first."""
        return self._finish("engine", None if self._closed else self._spawn("engine"))


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m openmlink.analytics.warm",
                                 description="compile the analytics kernels into the Numba cache")
    ap.add_argument("--stage", choices=sorted(STAGES), default="all",
                    help="first: a server's preliminary pass (first-rows + first-iv + first-fits); engine: "
                         "the implied-quote engine's kernels; all: every public entry point "
                         "(default)")
    stage = ap.parse_args(argv).stage
    t0 = time.perf_counter()
    STAGES[stage]()
    print(f"openmlink.analytics kernels ({stage}) compiled and cached in "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
