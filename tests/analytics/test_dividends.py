"""Cash dividends: escrowed European vs QuantLib analytic, American FD vs QuantLib FD."""

from __future__ import annotations

import numpy as np
import pytest
import QuantLib as ql
from conftest import TODAY

from openmlink.analytics import greeks, implied_vol, price

DIV_DAYS = [40, 131, 222, 313, 404]
DIV_AMT = [0.8, 0.8, 0.9, 0.9, 1.0]
DIVS = (np.array(DIV_DAYS) / 365.0, np.array(DIV_AMT))


def _schedule(max_days: int = 10_000) -> ql.DividendSchedule:
    """QuantLib's escrowed engine subtracts every future dividend, even those after expiry,
    so the oracle is given only the dividends up to expiry (our model's semantics)."""
    live = [(d, a) for d, a in zip(DIV_DAYS, DIV_AMT, strict=True) if d <= max_days]
    return ql.DividendVector([TODAY + d for d, _ in live], [a for _, a in live])


def test_european_cash_dividends_match_quantlib_escrowed(market) -> None:
    rng = np.random.default_rng(31)
    for _ in range(60):
        s, days = 100 * rng.uniform(0.8, 1.2), int(rng.integers(20, 500))
        r, q, vol, cp = rng.uniform(0, 0.08), rng.uniform(0, 0.03), rng.uniform(0.1, 0.8), \
            int(rng.choice([1, -1]))
        market.set(s, r, q, vol)
        opt = market.option(cp, 100.0, days)
        opt.setPricingEngine(ql.AnalyticDividendEuropeanEngine(market.process, _schedule(days)))
        t = days / 365.0
        assert float(price(s, 100.0, t, r, q, vol, cp, dividends=DIVS)) == pytest.approx(
            opt.NPV(), rel=1e-10)
        g = greeks(s, 100.0, t, r, q, vol, cp, dividends=DIVS)
        assert float(g["de"]) == pytest.approx(opt.delta(), rel=1e-8, abs=1e-12)
        assert float(g["ga"]) == pytest.approx(opt.gamma(), rel=1e-8, abs=1e-12)
        assert float(g["ve"]) == pytest.approx(opt.vega() / 100, rel=1e-8, abs=1e-12)
        assert float(g["ro"]) == pytest.approx(opt.rho() / 100, rel=1e-8, abs=1e-12)
        iv, err = implied_vol(opt.NPV(), s, 100.0, t, r, q, cp, dividends=DIVS)
        if opt.NPV() > 1e-4:
            assert err == 0 and float(iv) == pytest.approx(vol, rel=1e-9)


def test_american_cash_dividends_match_quantlib_fd(market) -> None:
    """Tolerance 3e-3 per 100 of strike: both sides are second-order FD schemes (ours 401x400,
    QuantLib 800x800 Douglas); on dividend-free cases ours is within ~3.5e-3 of the ALO price,
    and the dividend jump adds an interpolation error of the same order."""
    rng = np.random.default_rng(32)
    engine = ql.FdBlackScholesVanillaEngine(market.process, _schedule(), 800, 800)
    for _ in range(16):
        s, days = 100 * rng.uniform(0.85, 1.15), int(rng.integers(60, 500))
        r, vol, cp = rng.uniform(0, 0.08), rng.uniform(0.15, 0.6), int(rng.choice([1, -1]))
        market.set(s, r, 0.0, vol)
        opt = market.option(cp, 100.0, days, american=True)
        opt.setPricingEngine(engine)
        ours = float(price(s, 100.0, days / 365.0, r, 0.0, vol, cp, exercise="american",
                           dividends=DIVS))
        assert ours == pytest.approx(opt.NPV(), abs=3e-3)


def test_american_call_exercised_before_large_dividend_is_worth_more_than_european() -> None:
    divs = (np.array([0.25]), np.array([8.0]))
    am = float(price(120.0, 100.0, 0.5, 0.03, 0.0, 0.2, 1, exercise="american", dividends=divs))
    eu = float(price(120.0, 100.0, 0.5, 0.03, 0.0, 0.2, 1, dividends=divs))
    assert am > eu + 0.5
    # Early exercise just before the ex-date is worth at least S - K at that time.
    assert am >= 20.0


def test_dividend_fd_without_dividends_agrees_with_alo() -> None:
    rng = np.random.default_rng(33)
    n = 12
    s, t = 100 * rng.uniform(0.8, 1.2, n), rng.uniform(0.05, 2.0, n)
    r, vol = rng.uniform(0.01, 0.08, n), rng.uniform(0.1, 0.8, n)
    cp = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    far = (np.array([50.0]), np.array([1.0]))  # beyond every expiry: no effect, FD engine
    fd = price(s, 100.0, t, r, 0.0, vol, cp, exercise="american", dividends=far)
    alo = price(s, 100.0, t, r, 0.0, vol, cp, exercise="american")
    np.testing.assert_allclose(fd, alo, atol=5e-3)  # measured FD error up to ~3.5e-3
