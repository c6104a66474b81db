"""Fast American implied vols of the public API (``implied_vol(..., exercise="american",
vol_tol=1e-5)`` without cash dividends): de-Americanisation over shared exercise-boundary
tables, checked.

Rows never exercised early (put-equivalent rate <= 0 and <= its yield, e.g. calls without
dividend yield): the European vol (Let's Be Rational).  Other rows (put-equivalent rate > 0):
  v0 = the Barone-Adesi-Whaley de-Americanised vol (two passes, from 0.3);
  v1 = euro_iv(P - EEP(v0)), EEP(v) = ALO(v) - euro(v) the accurate early-exercise premium;
  v2 = the secant step of ALO(v) - P through (v0, ALO(v0)) and (v1, ALO(v1));
  accepted when ALO(v2) reprices P within ``VOL_TOL`` times the secant slope (the American
  vega): the vol error is then about VOL_TOL or less (1e-5, 10x under the 1e-4 goal); rows not
  accepted take up to ``EXTRA_STEPS`` further secant steps, checked the same way.
ALO(v) is priced over ``BoundaryTables`` (one boundary table per expiry, side and vol range,
within ~2e-6 per 100 of strike of row-by-row ALO): three table evaluations, one BAW
de-Americanisation and two Let's-Be-Rational solves per row instead of ~6-10 row-by-row ALO
prices.  Rows not accepted (deep in the money with no vega, bad input, a key with too few rows
for a table, negative rates) go to the accurate row-by-row root-finder (``_greeks.root_iv_kernel``),
which also gives their error codes.  Tested: tests/analytics/test_american_iv.py.
"""

from __future__ import annotations

import threading

import numpy as np
from numpy.typing import NDArray

from ._american_grouped import BoundaryTables
from ._baw import baw_deamericanised_iv
from ._black import euro_price_kernel
from ._lbr import euro_iv_kernel

__all__ = ["EXTRA_STEPS", "VOL_TOL", "fast_american_iv"]

EXTRA_STEPS = 2
"""Further secant steps (one table evaluation each) for rows the first check does not accept."""
VOL_TOL = 1e-5
"""Default largest accepted vol error of the fast path (estimated as |ALO(v) - P| / American
vega)."""

_TABLES = BoundaryTables(max_tables=4096)
"""The public API's boundary tables (the engine has its own)."""
_LOCK = threading.Lock()


def _euro(s: NDArray[np.float64], k: NDArray[np.float64], t: NDArray[np.float64],
          r: NDArray[np.float64], q: NDArray[np.float64], v: NDArray[np.float64],
          cp: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.empty(len(s))
    euro_price_kernel(s, k, t, r, q, np.ascontiguousarray(v), cp, False, out)
    return out


def _euro_iv(p: NDArray[np.float64], s: NDArray[np.float64], k: NDArray[np.float64],
             t: NDArray[np.float64], r: NDArray[np.float64], q: NDArray[np.float64],
             cp: NDArray[np.float64]) -> NDArray[np.float64]:
    vol = np.empty(len(p))
    err = np.empty(len(p), np.int8)
    euro_iv_kernel(np.ascontiguousarray(p), s, k, t, r, q, cp, False, vol, err)
    return np.where(err == 0, vol, np.nan)


def fast_american_iv(p: NDArray[np.float64], s: NDArray[np.float64], k: NDArray[np.float64],
                     t: NDArray[np.float64], r: NDArray[np.float64], q: NDArray[np.float64],
                     cp: NDArray[np.float64], vol_tol: float = VOL_TOL
                     ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """(vol, accepted) per row (contiguous float64 1-D inputs of one length); vol is only
    meaningful where accepted: estimated vol error at most ``vol_tol`` (module docstring)."""
    n = len(p)
    vol = np.full(n, np.nan)
    ok = np.zeros(n, bool)
    if n == 0:
        return vol, ok
    with np.errstate(all="ignore"):
        rp = np.where(cp < 0, r, q)
        qp = np.where(cp < 0, q, r)
        valid = ((s > 0) & (k > 0) & (t > 0) & np.isfinite(p) & (p > 0) & ((cp == 1.0) | (cp == -1.0))
                 & np.isfinite(r) & np.isfinite(q) & np.isfinite(s) & np.isfinite(k) & np.isfinite(t))
        # never exercised early (put-equivalent rate <= 0 and <= its yield): the European vol
        eu = np.flatnonzero(valid & (rp <= 0) & (rp <= qp))
        if len(eu):
            ve = _euro_iv(p[eu], *(np.ascontiguousarray(a[eu]) for a in (s, k, t, r, q, cp)))
            vol[eu] = ve
            ok[eu] = np.isfinite(ve)
        # a price at its exercise value (deep in the money, exercised now) has no unique vol:
        # every vol up to the kink reprices it; those rows go to the root-finder's codes
        above = p > np.maximum(cp * (s - k), 0.0) + 1e-12 * np.maximum(s, k)
        cand = np.flatnonzero(valid & (rp > 0) & above)
        if len(cand) == 0:
            return vol, ok
        pc, sc, kc, tc, rc, qc, cc = (np.ascontiguousarray(a[cand]) for a in (p, s, k, t, r, q, cp))
        v0 = baw_deamericanised_iv(pc, sc, kc, tc, rc, qc, cc, np.full(len(cand), 0.3), passes=2)
        v0 = np.where(np.isfinite(v0) & (v0 > 0), v0, 0.3)
        with _LOCK:
            a0 = _TABLES.prices(sc, kc, tc, rc, qc, v0, cc)
            v1 = _euro_iv(pc - np.maximum(a0 - _euro(sc, kc, tc, rc, qc, v0, cc), 0.0), sc, kc, tc,
                          rc, qc, cc)
            v1 = np.where(np.isfinite(v1) & (v1 > 0), v1, v0 * 1.01)
            a1 = _TABLES.prices(sc, kc, tc, rc, qc, v1, cc)
            den = a1 - a0
            step = np.where((den != 0) & np.isfinite(den), (a1 - pc) * (v1 - v0) / den, 0.0)
            v2 = np.clip(v1 - step, 0.5 * v1, 2.0 * v1)
            a2 = _TABLES.prices(sc, kc, tc, rc, qc, v2, cc)
            with np.errstate(all="ignore"):
                slope0 = (a1 - a0) / (v1 - v0)
            good = _accepted(pc, v1, a1, v2, a2, slope0, vol_tol)
            # up to EXTRA_STEPS more secant steps for the rows not accepted yet (short-dated
            # near-the-money rows, mostly: the premium's vol slope is steep there)
            for _ in range(EXTRA_STEPS):
                more = np.flatnonzero(~good)
                if len(more) == 0:
                    break
                va, fa, vb, fb = v1[more], a1[more], v2[more], a2[more]
                den = fb - fa
                step = np.where((den != 0) & np.isfinite(den), (fb - pc[more]) * (vb - va) / den, 0.0)
                vn = np.clip(vb - step, 0.5 * vb, 2.0 * vb)
                an = _TABLES.prices(sc[more], kc[more], tc[more], rc[more], qc[more], vn, cc[more])
                v1[more], a1[more], v2[more], a2[more] = vb, fb, vn, an
                good[more] = _accepted(pc[more], vb, fb, vn, an, slope0[more], vol_tol)
    vol[cand] = v2
    ok[cand] = good
    return vol, ok


def _accepted(p: NDArray[np.float64], va: NDArray[np.float64], fa: NDArray[np.float64],
              vb: NDArray[np.float64], fb: NDArray[np.float64], slope0: NDArray[np.float64],
              vol_tol: float) -> NDArray[np.bool_]:
    """Rows whose last vol ``vb`` reprices ``p`` within vol_tol times the secant slope (the
    first secant's ``slope0`` where the last step was nil: ``va`` already repriced ``p``)."""
    with np.errstate(all="ignore"):
        slope = np.where(vb != va, (fb - fa) / (vb - va), slope0)
        return (np.isfinite(fb) & np.isfinite(slope) & (slope > 0)
                & (np.abs(fb - p) <= vol_tol * slope) & (vb > 1e-5) & (vb < 20.0))
