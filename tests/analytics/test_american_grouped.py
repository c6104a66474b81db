"""Whole-expiry American prices (one boundary table per group and side) against row-by-row ALO."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.analytics import american_prices, price


def _chain(seed: int, groups: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    cols: list[list[float]] = [[] for _ in range(8)]
    for g in range(groups):
        t = float(np.exp(rng.uniform(np.log(2 / 365), np.log(3.0))))
        r = float(rng.uniform(0.0, 0.08))
        q = float(rng.choice([0.0, rng.uniform(0.0, 0.06)]))
        n = int(rng.integers(1, 80))
        k = 100.0 * np.exp(rng.uniform(-0.6, 0.6, n) * max(0.2, np.sqrt(t)))
        atm = rng.uniform(0.08, 0.9)
        x = np.log(k / 100.0)
        vol = np.clip(atm * (1.0 + 0.8 * x * x - 0.3 * x), 0.05, 2.5)
        cp = np.where(rng.random(n) < 0.5, 1.0, -1.0)
        for col, val in zip(cols, (np.full(n, 100.0), k, np.full(n, t), np.full(n, r),
                                   np.full(n, q), vol, cp, np.full(n, g)), strict=True):
            col.extend(np.asarray(val, np.float64).tolist())
    return tuple(np.array(c) for c in cols)


def test_grouped_prices_equal_row_by_row_alo() -> None:
    s, k, t, r, q, vol, cp, g = _chain(5, 40)
    perm = np.random.default_rng(1).permutation(len(s))  # any row order
    s, k, t, r, q, vol, cp, g = (a[perm] for a in (s, k, t, r, q, vol, cp, g))
    ours = american_prices(s, k, t, r, q, vol, cp, g.astype(np.int64))
    ref = price(s, k, t, r, q, vol, cp, exercise="american")
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)
    assert (ours >= price(s, k, t, r, q, vol, cp) - 1e-9).all()  # never below European


@settings(max_examples=30, deadline=None)
@given(st.floats(0.01, 2.0), st.floats(0.001, 0.1), st.floats(0.0, 0.08), st.floats(0.1, 1.2),
       st.floats(0.5, 2.0))
def test_one_group_matches_alo_and_bad_rows_are_nan(t: float, r: float, q: float, vol: float,
                                                    width: float) -> None:
    k = 100.0 * np.exp(np.linspace(-0.5, 0.5, 25))
    v = vol * np.exp(width * np.linspace(-0.5, 0.5, 25) ** 2)
    cp = np.where(np.arange(25) % 2 == 0, -1.0, 1.0)
    s = np.full(25, 100.0)
    s[3] = -1.0  # invalid spot
    ours = american_prices(s, k, t, r, q, v, cp, np.zeros(25, np.int64))
    ref = price(s, k, t, r, q, v, cp, exercise="american")
    assert np.isnan(ours[3]) and np.isnan(ref[3])
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)


def test_boundary_tables_reuse_tables_and_match_alo() -> None:
    from openmlink.analytics._american_grouped import BoundaryTables

    s, k, t, r, q, vol, cp, _ = _chain(9, 30)
    tabs = BoundaryTables(max_tables=40)
    ref = price(s, k, t, r, q, vol, cp, exercise="american")
    np.testing.assert_allclose(tabs.prices(s, k, t, r, q, vol, cp), ref, rtol=0, atol=1e-6)
    built = tabs.built
    assert built > 0
    bumped = vol * 1.05  # the next pass of an IV solve: inside the padded vol intervals
    np.testing.assert_allclose(tabs.prices(s, k, t, r, q, bumped, cp),
                               price(s, k, t, r, q, bumped, cp, exercise="american"), rtol=0, atol=1e-6)
    assert tabs.built == built
    far = vol * 2.0  # outside: rebuilt, still right
    np.testing.assert_allclose(tabs.prices(s, k, t, r, q, far, cp),
                               price(s, k, t, r, q, far, cp, exercise="american"), rtol=0, atol=1e-6)
    assert tabs.built > built and len(tabs._tabs) <= 40


def test_boundary_tables_across_the_steep_band() -> None:
    """One 2-year expiry at r 8% whose vols span the blend of the two fixed-point forms
    (s = (r - q) t / vol^2 from 1.8 to 25): the tables interpolate the blended boundary in vol
    as closely as elsewhere, and ``steep`` counts the tables the Phi form builds."""
    from openmlink.analytics._american_grouped import BoundaryTables

    rng = np.random.default_rng(5)
    n = 200
    s = 100.0 * np.exp(rng.uniform(-0.3, 0.3, n))
    k, t, r, q = np.full(n, 100.0), np.full(n, 2.0), np.full(n, 0.08), np.zeros(n)
    vol = np.exp(rng.uniform(np.log(0.08), np.log(0.3), n))
    cp = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    tabs = BoundaryTables(min_rows=1)
    np.testing.assert_allclose(tabs.prices(s, k, t, r, q, vol, cp),
                               price(s, k, t, r, q, vol, cp, exercise="american"), rtol=0, atol=1e-6)
    held, some, whole = tabs.steep()
    assert held == tabs.built == 2  # puts (calls at q 0: European) over the vols present, in two
    # tables: [0.069, 0.265] and [0.175, 0.369]; s = 0.16 / vol^2 at their low ends 33 and 5.2
    # (> STEEP_BAND[0] = 2: both blend), at their high ends 2.3 and 1.2 (< 6: neither wholly steep)
    assert (some, whole) == (2, 0)


@pytest.mark.parametrize("span", [0.05, 0.3, 0.6, 0.9])
def test_boundary_tables_interpolation_error_on_a_dense_grid(span: float) -> None:
    """The tables' vol interpolation (nodes sized to the width of the vols present) against
    row-by-row ALO on a dense grid: every expiry 1 day - 3 years, rate, yield and strike of
    both sides, 40 vols spread over ``span`` in ln vol (one table each, the widest a table
    serves at SPAN): within 2e-6 per 100 of strike (the ALO scheme itself is ~1e-5 from QD+;
    measured 1.5e-6 at most, on puts with q > r, against 4.8e-7 with the fixed 12-node tables),
    where the default scheme holds (max(r, q) t / vol^2 <= 10, test_american_rows.STEEP: beyond
    it the boundary moves steeply with the vol; a 3-year put at r 8%, vol 8% is 2.6e-5 off
    here, 1.4e-2 with the fixed 12-node octave tables before, and ALO itself 6e-2 off QD+)."""
    from openmlink.analytics._american_grouped import BoundaryTables

    rows = []
    for t in (1 / 365, 7 / 365, 30 / 365, 0.25, 1.0, 3.0):
        for r, q in ((0.01, 0.0), (0.045, 0.02), (0.08, 0.0), (0.03, 0.06)):
            for base in (0.08, 0.25, 0.7):
                vols = base * np.exp(np.linspace(0.0, span, 40))
                for cp in (-1.0, 1.0):
                    k = 100.0 * np.exp(np.linspace(-0.5, 0.5, 40) * min(1.0, np.sqrt(t) + 0.1))
                    rows.append(np.stack([k, np.full(40, t), np.full(40, r), np.full(40, q), vols,
                                          np.full(40, cp)]))
    k, t, r, q, vol, cp = np.concatenate(rows, axis=1)
    keep = np.maximum(r, q) * t / vol**2 <= 10.0
    k, t, r, q, vol, cp = (a[keep] for a in (k, t, r, q, vol, cp))
    s = np.full(len(k), 100.0)
    tabs = BoundaryTables()
    ours = tabs.prices(s, k, t, r, q, vol, cp)
    assert tabs.built > 0
    ref = price(s, k, t, r, q, vol, cp, exercise="american")
    assert np.isfinite(ref).all()
    np.testing.assert_allclose(ours, ref, rtol=0, atol=2e-6)
