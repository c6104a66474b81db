"""Calendar-spread check of fitted smiles (``analytics.calendar_check``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.analytics import SMILE_WIDTH, calendar_check, calendar_short, smile_total_variance
from openmlink.analytics._calendar import CAL_TOL_ABS, CAL_TOL_REL


def _svi(a: float, b: float, rho: float, m: float, sig: float, lo: float = -0.4,
         hi: float = 0.3) -> np.ndarray:
    p = np.zeros(SMILE_WIDTH)
    p[:7] = (a, b, rho, m, sig, lo, hi)
    return p


def test_a_later_smile_below_the_earlier_one_in_a_wing_is_found_there_only() -> None:
    # the later smile's call wing (rho -0.9) dips below the earlier one's (rho +0.3) total
    # variance from about k = 0.19 up; the put side and the money are fine
    early = _svi(0.01, 0.05, 0.3, 0.0, 0.1)
    late = _svi(0.02, 0.08, -0.9, 0.0, 0.1)
    params = np.stack([early, late])
    short, viol, lo, hi = calendar_check(params, params[:, 5], params[:, 6], np.array([-1, 0]))
    assert np.isnan(short[0]) and np.isnan(lo[0]) and not viol[0]
    assert viol[1] and (lo[1], hi[1]) == (-0.4, 0.3)
    k = np.linspace(-0.4, 0.3, 2001)
    gap = smile_total_variance(k, early) - smile_total_variance(k, late)
    bad = gap > CAL_TOL_REL * smile_total_variance(k, early) + CAL_TOL_ABS
    assert bad.any() and k[bad].min() > 0.15
    n = len(k)
    np.testing.assert_array_equal(calendar_short(k, np.tile(late, (n, 1)), np.tile(early, (n, 1))),
                                  bad)
    assert abs(short[1] - np.max(gap / smile_total_variance(k, early))) < 1e-3


def test_increasing_total_variance_is_not_flagged_and_ranges_must_overlap() -> None:
    base = _svi(0.01, 0.05, -0.3, 0.0, 0.1)
    later = base.copy()
    later[0] += 0.005  # a parallel lift: strictly more variance everywhere
    apart = later.copy()
    apart[5:7] = (0.35, 0.5)  # fitted on strikes the first one never saw
    params = np.stack([base, later, apart])
    short, viol, lo, _ = calendar_check(params, params[:, 5], params[:, 6],
                                        np.array([-1, 0, 0]))
    assert short[1] < 0 and not viol[1]
    assert np.isnan(short[2]) and np.isnan(lo[2]) and not viol[2]


@settings(max_examples=60, deadline=None)
@given(a=st.floats(0.001, 0.05), b=st.floats(0.01, 0.3), rho=st.floats(-0.95, 0.95),
       m=st.floats(-0.1, 0.1), sig=st.floats(0.02, 0.4), lift=st.floats(-0.01, 0.01),
       tilt=st.floats(-0.2, 0.2))
def test_violation_and_shortfall_on_the_grid(a: float, b: float, rho: float,
                                                              m: float, sig: float, lift: float,
                                                              tilt: float) -> None:
    early = _svi(a, b, rho, m, sig)
    late = _svi(a + lift, b, float(np.clip(rho + tilt, -0.99, 0.99)), m, sig)
    params = np.stack([early, late])
    short, viol, _, _ = calendar_check(params, params[:, 5], params[:, 6], np.array([-1, 0]))
    k = np.linspace(-0.4, 0.3, 81)  # the check's own grid: exactly what it looks at
    we, wl = smile_total_variance(k, early), smile_total_variance(k, late)
    bad = (we - wl) > CAL_TOL_REL * we + CAL_TOL_ABS
    assert viol[1] == bad.any()
    assert short[1] == pytest.approx(np.max((we - wl) / we), abs=1e-12)
