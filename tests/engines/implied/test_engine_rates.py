"""Rates of the implied-quote engine (issue 16): per-expiry rates implied by the index chains,
the curve every underlier uses, sdiv computed from the forward, the shipped base curve."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openmlink.analytics import RateCurve
from openmlink.bus import RecordingBus
from openmlink.clock import SimClock
from openmlink.engines.implied import EngineConfig, ImpliedQuoteEngine
from openmlink.market import load_chain
from tests.support.paths import CBOE, FIXTURES

INDEX_CHAINS = [CBOE / f"{n}_2023-09-14.csv" for n in ("spx", "xsp")
                if (CBOE / f"{n}_2023-09-14.csv").exists()]


def _run(paths: list[Path], config: EngineConfig | None = None,
         curve: RateCurve | None = None) -> tuple[ImpliedQuoteEngine, dict[str, np.ndarray]]:
    snaps = [load_chain(p) for p in paths]
    bus = RecordingBus()
    eng = ImpliedQuoteEngine(bus, SimClock(snaps[0].valuation_ns), config or EngineConfig(), curve)
    eng.attach()
    eng.ready = False
    for s in snaps:
        for m in s.messages():
            bus.publish(m)
    eng.ready = True
    n0 = len(bus.published)
    eng.on_timer()
    liq = [m for m in bus.published[n0:] if m.mt.name == "LiveImpliedQuote"]
    return eng, {k: np.concatenate([np.asarray(m.data[k]) for m in liq]) for k in liq[0].data}


def _ols_parity_rate(path: Path, root: str, expiry: int, t: float) -> tuple[float, float, int]:
    """The chain's own put-call parity rate, computed here independently of the engine: an
    ordinary least-squares line C - P = D (F - K) through the mids of the strikes within 10% of
    the index with a two-sided call and put; (rate, its standard error, strikes)."""
    s = load_chain(path)
    m = ((np.asarray(s.root) == root) & (s.expiry == expiry) & (s.bid_px > 0)
         & (s.ask_px >= s.bid_px) & (np.abs(s.strike / s.last - 1) < 0.10))
    mid = 0.5 * (s.bid_px + s.ask_px)
    calls = dict(zip(s.strike[m & (s.cp == 0)].tolist(), mid[m & (s.cp == 0)].tolist(), strict=True))
    puts = dict(zip(s.strike[m & (s.cp == 1)].tolist(), mid[m & (s.cp == 1)].tolist(), strict=True))
    k = np.array(sorted(set(calls) & set(puts)))
    if len(k) < 10:
        return np.nan, np.inf, len(k)
    y = np.array([calls[x] - puts[x] for x in k])
    a = np.vstack([np.ones_like(k), k]).T
    coef = np.linalg.lstsq(a, y, rcond=None)[0]
    res = y - a @ coef
    se_slope = np.sqrt(res @ res / (len(k) - 2) / np.sum((k - k.mean()) ** 2))
    d = -coef[1]
    return float(-np.log(d) / t), float(se_slope / (d * t)), len(k)


@pytest.mark.skipif(not INDEX_CHAINS, reason="needs ../shared/data/cboe (SPX/XSP chains)")
@pytest.mark.parametrize("path", INDEX_CHAINS, ids=[p.stem for p in INDEX_CHAINS])
def test_rates_within_10bp_of_the_chain_parity_rate(path: Path) -> None:
    """Every expiry whose parity rate the chain determines (standard error <= 5 bp: in practice
    30 days and more; a 4-14 day box measures the rate to tens of bp) is priced at a rate
    within 10 bp of it, and shorter expiries at the curve's rate."""
    eng, d = _run([path], curve=RateCurve.flat(0.0))  # a base far from the truth: rates implied
    keys = sorted({(str(a), int(b)) for a, b in zip(d["okey.tk"], d["okey.dt"], strict=True)})
    checked = []
    for root, dt in keys:
        sel = (d["okey.tk"] == root) & (d["okey.dt"] == dt)
        t, rate = float(d["years"][sel][0]), float(d["rate"][sel][0])
        assert np.all(d["rate"][sel] == rate)
        if t * 365 < 30:
            continue
        ref, se, n = _ols_parity_rate(path, root, dt, t)
        if se <= 0.0005:
            checked.append((root, round(t * 365), rate, ref))
            assert abs(rate - ref) <= 0.0010, (root, t * 365, rate, ref, se, n)
    print(f"\n{path.stem}: {len(checked)} expiries checked; worst |engine - parity| = "
          f"{max(abs(c[2] - c[3]) for c in checked) * 1e4:.1f} bp")
    assert len(checked) >= 10
    # the curve (what other underliers see) passes through the well-measured rates
    c = eng.rates.curve
    far = [x for x in checked if x[1] >= 60]
    assert all(abs(float(c.rate(x[1] / 365)) - x[2]) < 0.003 for x in far)
    assert 0.045 < float(c.rate(0.5)) < 0.065


def test_index_chain_sets_the_rate_of_an_equity_chain_and_sdiv_is_computed() -> None:
    """SPX and SPY cuts together (fixtures): the SPY expiries take the curve implied by SPX
    (not the base), and sdiv of both is the carry of their forward, not the rate."""
    paths = [FIXTURES / "cboe" / "spx_2023-09-14.csv", FIXTURES / "cboe" / "spy_2023-09-14.csv"]
    base = RateCurve.flat(0.01)
    eng, d = _run(paths, curve=base)
    assert eng.rates.obs, "no SPX parity rate observed"
    spy = d["okey.tk"] == "SPY"
    spx = np.isin(d["okey.tk"], ["SPX", "SPXW"])
    assert spy.any() and spx.any()
    assert np.allclose(d["rate"][spy], eng.rates.curve.rate(d["years"][spy]))
    assert np.all(np.abs(d["rate"][spy] - 0.01) > 0.02)  # the 2023 market's ~5.5%, not the base
    # sdiv: F = S exp((rate - sdiv) t) for the European rows (uOff = F - S), never the rate
    eu = spx & (d["years"] > 20 / 365)
    f = d["uPrc"][eu] + d["uOff"][eu]
    back = d["rate"][eu] - np.log(f / d["uPrc"][eu]) / d["years"][eu]
    assert np.allclose(d["sdiv"][eu], back, atol=1e-9)
    assert np.all(np.abs(d["sdiv"][eu] - d["rate"][eu]) > 1e-3)
    assert np.all((d["sdiv"][eu] > -0.01) & (d["sdiv"][eu] < 0.04))  # SPX dividend yield ~1.5%


def test_shipped_default_curve_and_curve_files(tmp_path: Path) -> None:
    eng = ImpliedQuoteEngine(RecordingBus(), SimClock(0), EngineConfig())
    c = eng.rates.base
    assert c.as_of == "2023-09-14" and len(c.rates) >= 10
    assert np.all((c.rates > 0.03) & (c.rates < 0.07))
    p = tmp_path / "rates.csv"
    p.write_text("as_of,2026-11-27\ndays,rate\n30,0.04\n365,0.035\n", encoding="utf-8")
    eng = ImpliedQuoteEngine(RecordingBus(), SimClock(0), EngineConfig(rate_curve_file=str(p)))
    assert eng.rates.base.as_of == "2026-11-27"
    assert float(eng.rates.curve.rate(1.0)) == pytest.approx(0.035)
    assert float(ImpliedQuoteEngine(RecordingBus(), SimClock(0), EngineConfig(flat_rate=0.02))
                 .rates.curve.rate(1.0)) == 0.02
    p.write_text("days,rate\n30,abc\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"rates.csv line 2: days and rate must be numbers"):
        ImpliedQuoteEngine(RecordingBus(), SimClock(0), EngineConfig(rate_curve_file=str(p)))
