"""Rate curves: the file format, parity rates of synthetic European chains, the implied curve."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.analytics import RateCurve, RateCurveFormatError, combine_rate, parity_rates
from openmlink.analytics._black import euro_price_kernel


def _chain(f: float, r: float, t: float, vol: float, strikes: np.ndarray, half: float,
           skew: float = 0.0) -> tuple[np.ndarray, ...]:
    """One expiry of Black-76 calls and puts (rows by strike, call then put), quoted +-half
    around the value, plus ``skew`` * half on both sides of the calls (a quote shift that
    parity should see through only as far as it is common to all strikes)."""
    k = np.repeat(strikes, 2)
    cp = np.tile(np.array([0, 1], np.int8), len(strikes))
    n = len(k)
    out = np.empty(n)
    euro_price_kernel(np.full(n, f), k, np.full(n, t), np.full(n, r), np.full(n, r),
                      np.full(n, vol), np.where(cp == 0, 1.0, -1.0), True, out)
    mid = out + np.where(cp == 0, skew * half, 0.0)
    return k, cp, mid - half, mid + half


@settings(max_examples=60, deadline=None)
@given(r=st.floats(-0.01, 0.10), days=st.floats(30, 1000), vol=st.floats(0.08, 0.6),
       f=st.floats(50, 5000), seed=st.integers(0, 2**31))
def test_parity_rates_recover_the_rate_of_a_european_chain(r: float, days: float, vol: float, f: float,
                                                           seed: int) -> None:
    t = days / 365.0
    strikes = np.round(f * np.linspace(0.8, 1.2, 41), 2)
    k, cp, bid, ask = _chain(f, r, t, vol, strikes, half=1e-4 * f)
    # mids off parity by up to 1e-6 of the forward at random: the rate within its error
    rng = np.random.default_rng(seed)
    noise = rng.uniform(-1e-6, 1e-6, len(k)) * f
    bid, ask = bid + noise, ask + noise
    rate, se, fwd, n = parity_rates(k, cp, bid, ask, np.array([0, len(k)]), np.array([t]))
    assert n[0] == np.sum((bid[cp == 0] > 0) & (bid[cp == 1] > 0)) >= 10
    # least squares: a slope error of at most 2e * sum|dx| / sum dx^2 for C - P errors <= 2e
    two = (bid[cp == 0] > 0) & (bid[cp == 1] > 0)
    dx = strikes[two] - strikes[two].mean()
    bound = 2e-6 * f * np.abs(dx).sum() / (dx * dx).sum() / t
    assert abs(rate[0] - r) <= 1.01 * bound + 1e-9
    assert se[0] >= 0
    assert abs(fwd[0] / f - 1) < 1e-6


def test_parity_rates_band_trim_and_too_few_pairs() -> None:
    f, r, t = 100.0, 0.05, 0.5
    strikes = np.arange(60.0, 141.0, 5.0)
    k, cp, bid, ask = _chain(f, r, t, 0.4, strikes, half=0.05)
    assert (bid > 0).all()
    # one strike's call quoted 2.00 too high: trimmed (its residual is 40 half-spreads)
    bad = np.flatnonzero((k == 100.0) & (cp == 0))
    bid[bad] += 2.0
    ask[bad] += 2.0
    off = np.array([0, len(k)])
    rate, _, _, n = parity_rates(k, cp, bid, ask, off, np.array([t]))
    assert n[0] == len(strikes) - 1
    assert rate[0] == pytest.approx(r, abs=1e-9)
    # the band keeps |ln(K / 100)| <= 0.25: strikes 80..125, the bad one trimmed
    rate, _, _, n = parity_rates(k, cp, bid, ask, off, np.array([t]), center=np.array([100.0]), band=0.25)
    assert n[0] == 9 and rate[0] == pytest.approx(r, abs=1e-9)
    rate, _, _, n = parity_rates(k, cp, bid, ask, off, np.array([t]), center=np.array([100.0]), band=0.06)
    assert n[0] < 5 and math.isnan(rate[0])  # fewer than min_pairs
    # one-sided puts give no pair; t = 0 gives no rate
    rate, _, _, n = parity_rates(k, cp, np.where(cp == 1, 0.0, bid), ask, off, np.array([t]))
    assert n[0] == 0 and math.isnan(rate[0])
    rate, *_ = parity_rates(k, cp, bid, ask, off, np.array([0.0]))
    assert math.isnan(rate[0])


def test_curve_file_round_trip_and_errors() -> None:
    c = RateCurve.parse("# a comment\nas_of,2023-09-14\ndays,rate\n30,0.05\n365,0.055\n", "x.csv")
    assert c.as_of == "2023-09-14"
    assert c.rate(30 / 365.0) == pytest.approx(0.05)
    assert c.rate(10.0) == pytest.approx(0.055)  # flat beyond the last pillar
    back = RateCurve.parse(c.to_text("again"))
    assert np.allclose(back.rates, c.rates) and np.allclose(back.pillars_years, c.pillars_years)
    cases = {
        "days,rate\n30,0.05,1\n": "line 2: expected 2",
        "30,0.05\n": "line 1: the header",
        "days,rate\n30,five\n": "line 2: days and rate must be numbers",
        "days,rate\n0,0.05\n": "line 2: days must be > 0",
        "days,rate\n30,5\n": "line 2: rate must be a decimal",
        "days,rate\n30,0.05\n20,0.05\n": "line 3: days must increase",
        "as_of,14/09/2023\n": "line 1: as_of must be a date",
        "# nothing\n": "no pillars",
    }
    for text, why in cases.items():
        with pytest.raises(RateCurveFormatError, match=why):
            RateCurve.parse(text, "bad.csv")


def test_implied_curve_follows_precise_points_and_falls_back_to_the_base() -> None:
    base = RateCurve.flat(0.03)
    assert RateCurve.implied([], [], [], base) is base
    assert RateCurve.implied([0.5], [math.nan], [0.001], base) is base
    t = np.array([0.25, 0.5, 1.0, 2.0])
    r = np.array([0.050, 0.052, 0.051, 0.049])
    c = RateCurve.implied(t, r, np.full(4, 1e-5), base)
    assert np.allclose(c.rate(t), r, atol=2e-5)
    # a noisy short point barely moves the curve away from its precise neighbours
    c2 = RateCurve.implied(np.r_[0.01, t], np.r_[0.0, r], np.r_[0.05, np.full(4, 1e-4)], base)
    assert abs(c2.rate(0.01) - 0.050) < 0.005  # not 0.0 (the point) nor 0.03 (the base)
    # without observations nearby the curve returns towards the base
    c3 = RateCurve.implied([0.25], [0.05], [1e-5], base, drift=0.005)
    assert c3.rate(0.25) == pytest.approx(0.05, abs=1e-4)
    assert abs(c3.rate(0.0) - 0.05) < 1e-3


def test_combine_rate_weights_by_error() -> None:
    own = np.array([0.06, 0.06, np.nan])
    se = np.array([1e-5, 1.0, np.nan])
    out = combine_rate(own, se, np.full(3, 0.05), 0.0025)
    assert out[0] == pytest.approx(0.06, abs=1e-6)
    assert out[1] == pytest.approx(0.05, abs=1e-6)
    assert out[2] == 0.05
