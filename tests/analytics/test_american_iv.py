"""Public American implied vols of whole chains (``implied_vol(..., exercise="american",
vol_tol=1e-5)``, 16 rows or more): the de-Americanisation over shared boundary tables
(``_american_iv``) with its acceptance check, and the row-by-row root-finder for the rest."""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from openmlink.analytics import IvError, implied_vol, price
from openmlink.analytics._american_iv import fast_american_iv


def _chain(days: int, r: float, q: float, atm: float, skew: float, n: int
           ) -> tuple[np.ndarray, ...]:
    """One expiry: n strikes within 3 ATM standard deviations (at least 2% of spot, at most a
    factor 2.5) either side of the spot, calls and puts, a skewed smile.  (Further out, e.g. a
    put struck at 7.8 times the spot with 0.006 of time value, the row-by-row root-finder
    itself reports NO_CONVERGENCE.)"""
    sd = min(max(atm * np.sqrt(days / 365.0), 0.02 / 3.0), 0.3)
    k = np.repeat(100.0 * np.exp(np.linspace(-3.0, 3.0, n) * sd), 2)
    x = np.log(k / 100.0)
    vol = np.clip(atm * (1.0 - skew * x + 0.8 * x * x), 0.05, 1.2)
    cp = np.tile([1.0, -1.0], n)
    m = len(k)
    return np.full(m, 100.0), k, np.full(m, days / 365.0), np.full(m, r), np.full(m, q), vol, cp


@settings(max_examples=15, deadline=None)
@given(days=st.integers(5, 1500), r=st.floats(0.0, 0.08), q=st.floats(0.0, 0.05),
       atm=st.floats(0.08, 0.9), skew=st.floats(0.0, 1.0), n=st.integers(8, 40))
def test_american_iv_of_a_chain_recovers_the_vol(days: int, r: float, q: float, atm: float,
                                                 skew: float, n: int) -> None:
    """Premiums priced by row-by-row ALO at known vols: the batch IV recovers each vol within
    1e-4 wherever the premium identifies it (time value > 1e-3 and American vega > 0.01 per
    unit of vol: a vol error of 1e-4 moves the price by 1e-6), and its error code is OK
    wherever it gives a vol."""
    s, k, t, rr, qq, vol, cp = _chain(days, r, q, atm, skew, n)
    p = price(s, k, t, rr, qq, vol, cp, exercise="american")
    iv, err = implied_vol(p, s, k, t, rr, qq, cp, exercise="american", vol_tol=1e-5)
    h = 1e-3
    vega = (price(s, k, t, rr, qq, vol + h, cp, exercise="american")
            - price(s, k, t, rr, qq, vol - h, cp, exercise="american")) / (2 * h)
    intrinsic = np.maximum(cp * (s - k), 0.0)
    sure = (vega > 0.01) & (p - intrinsic > 1e-3)
    # Known limit, found by this test: on deep in-the-money puts (strike ~1.9x spot) whose value
    # leaves intrinsic at a kink the row-by-row root-finder reports NO_CONVERGENCE (single rows,
    # before this change too); the batch falls back to it there, so such rows are left out.
    row_ok = np.array([implied_vol(p[i], s[i], k[i], t[i], rr[i], qq[i], cp[i], exercise="american")[1]
                       == IvError.OK for i in range(len(p))])
    sure &= row_ok
    assert sure.any()
    assert np.all(err[sure] == IvError.OK), (err[sure], iv[sure])
    assert np.max(np.abs(iv[sure] - vol[sure])) < 1e-4
    assert np.all(np.isnan(iv[err != IvError.OK]))


@settings(max_examples=10, deadline=None)
# found by CI: a deep in-the-money put priced at its exercise value (no unique vol) was
# accepted at the kink's vol 0.2986; the root-finder refuses it
@example(days=187, r=0.02809289907147744, q=0.00390625, atm=0.208984375, skew=0.0)
@given(days=st.integers(5, 1500), r=st.floats(0.005, 0.08), q=st.floats(0.0, 0.05),
       atm=st.floats(0.08, 0.9), skew=st.floats(0.0, 1.0))
def test_the_fast_path_agrees_with_the_root_finder_where_it_accepts(
        days: int, r: float, q: float, atm: float, skew: float) -> None:
    """Where the fast path accepts a row, its vol is that of the accurate row-by-row
    root-finder (single rows, below the batch size) within 1e-4."""
    s, k, t, rr, qq, vol, cp = _chain(days, r, q, atm, skew, 12)
    p = price(s, k, t, rr, qq, vol, cp, exercise="american")
    fv, ok = fast_american_iv(p, s, k, t, rr, qq, cp)
    assert ok.any()
    ref = np.array([implied_vol(p[i], s[i], k[i], t[i], rr[i], qq[i], cp[i], exercise="american")[0]
                    for i in np.flatnonzero(ok)], dtype=float)
    assert np.max(np.abs(fv[ok] - ref)) < 1e-4


def test_batch_american_iv_keeps_the_error_codes_of_bad_rows() -> None:
    """Bad rows in a batch get the codes of the row-by-row solver; the good rows their vols."""
    s, k, t, r, q, vol, cp = _chain(90, 0.05, 0.01, 0.3, 0.5, 16)
    p = price(s, k, t, r, q, vol, cp, exercise="american")
    p[0] = np.nan  # bad input
    p[1] = max(k[1] - s[1], 0.0) - 1.0  # a put below intrinsic
    p[2] = 1000.0  # a call above the spot
    iv, err = implied_vol(p, s, k, t, r, q, cp, exercise="american", vol_tol=1e-5)
    assert (err[0], err[1], err[2]) == (IvError.BAD_INPUT, IvError.BELOW_INTRINSIC, IvError.ABOVE_MAX)
    assert np.isnan(iv[:3]).all()
    # every row: the code of the row-by-row solver (single rows), the same vol within 1e-4
    one = [implied_vol(p[i], s[i], k[i], t[i], r[i], q[i], cp[i], exercise="american")
           for i in range(len(p))]
    assert [int(e) for e in err] == [int(e) for _, e in one]
    ok = err == IvError.OK
    assert ok.sum() > len(p) // 2
    assert np.max(np.abs(iv[ok] - np.array([float(v) for v, _ in one])[ok])) < 1e-4
