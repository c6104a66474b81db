"""Engine units: parity forward, SVI fit, Adj rules, Tick and Loop records through a bus."""

from __future__ import annotations

import numpy as np
import pytest

from openmlink.analytics import parity_forward, price
from openmlink.analytics._svi import fit_svi, svi_constraints_ok, svi_durrleman_g, svi_total_variance
from openmlink.bus import ColumnBatch, RecordingBus
from openmlink.clock import SimClock
from openmlink.engines.implied import EngineConfig, ImpliedQuoteEngine, adjust
from openmlink.engines.implied._enums import ordinal
from openmlink.market._columns import msg_type, option_key_columns, ticker_key_columns


def test_parity_forward_recovers_the_input_forward() -> None:
    f, r, t = 101.7, 0.05, 0.4
    ks = np.arange(80.0, 125.0, 2.5)
    strike = np.repeat(ks, 2)
    cp = np.tile(np.array([0, 1], np.int8), len(ks))
    vol = 0.25 - 0.2 * np.log(strike / f)
    p = price(f, strike, t, r, r, vol, np.where(cp == 0, 1.0, -1.0), model="black76")
    fwd, npairs = parity_forward(strike, cp, p - 0.02, p + 0.02, np.array([0, len(strike)]),
                                 np.array([np.exp(-r * t)]))
    assert npairs[0] == len(ks)
    assert abs(fwd[0] - f) < 1e-9


def test_svi_fit_recovers_a_known_smile_within_the_constraints() -> None:
    true = np.array([0.01, 0.2, -0.6, 0.05, 0.15])
    k = np.linspace(-0.5, 0.3, 60)
    assert svi_durrleman_g(k, true).min() > 0
    w = svi_total_variance(k, true)
    params, rmse = fit_svi(k, w, np.ones_like(k), np.array([0, 60]))
    assert np.allclose(params[0], true, atol=1e-5), params
    assert rmse[0] < 1e-8
    assert svi_constraints_ok(params).all()
    noisy = w * (1 + 0.01 * np.random.default_rng(1).standard_normal(len(w)))
    p2, _ = fit_svi(k, noisy, np.ones_like(k), np.array([0, 60]))
    assert svi_constraints_ok(p2).all()
    assert np.max(np.abs(svi_total_variance(k, p2[0]) - w)) < 0.03 * w.max()


def _parent(n: int = 1, **over: float) -> dict[str, np.ndarray]:
    base = {"uPrc": 100.0, "years": 0.1, "rate": 0.05, "sdiv": 0.0, "ddiv": 0.0, "oBid": 4.0,
            "oAsk": 4.4, "oBidIv": 0.20, "oAskIv": 0.22, "atmVol": 0.21, "xAxis": 0.0,
            "sVol": 0.21, "sPrc": 4.2, "sMark": 4.2, "veSlope": 0.0, "de": 0.5, "ga": 0.05,
            "th": -0.05, "ve": 0.12, "va": 0.0, "vo": 0.0, "ro": 0.0, "ph": 0.0, "deDecay": 0.0,
            "up50": 0, "dn50": 0, "up15": 0, "dn15": 0, "up06": 0, "dn08": 0, "synSpot": 100.0,
            "priceType": 1, "calcSource": 1}
    base.update(over)
    return {k: np.full(n, float(v)) for k, v in base.items()}


def _res(name: str) -> int:
    return ordinal("LiveImpliedQuoteAdj", "uPrcAdjResult", name)


def test_adj_rules_and_formulas_match_hand_calculations() -> None:
    par = _parent(6)
    has = np.array([False, True, True, True, True, True])
    s1 = np.array([101.0, np.nan, -1.0, 120.0, 101.0, 101.0])
    par["ga"][4] = np.nan
    out = adjust(par, has, s1, 7)
    assert out["uPrcAdjResult"].tolist() == [_res("NullOption"), _res("StaleUPrc"), _res("InvalidUPrc"),
                                             _res("UPrcRangeErr"), _res("OtherError"), _res("OK")]
    assert out["uprc"][:5].tolist() == [100.0] * 5  # parent values kept
    # OK: dU = 1, move = 0.5*1 + 0.5*0.05*1 = 0.525
    assert out["uprc"][5] == 101.0
    assert np.isclose(out["de"][5], 0.55)
    assert np.isclose(out["sprc"][5], 4.2 + 0.525)
    assert np.isclose(out["smrk"][5], 4.4)  # 4.725 clamped into [4.0, 4.4]
    assert np.isclose(out["obiv"][5], 0.20 - 0.525 / 12.0)
    assert np.isclose(out["oaiv"][5], 0.22 - 0.525 / 12.0)
    assert np.isclose(out["synSpot"][5], 101.0)
    assert out["timestamp"][5] == 7


def _chain(sim_t: int) -> tuple[list[ColumnBatch], int]:
    """A one-expiry European index chain (root XYZ, underlier XYZ) off a known smile."""
    from openmlink.bus import Event
    from openmlink.market import ExpiryCycle
    from openmlink.market._definitions import root_definition
    from openmlink.market._securities import OptionRoot, Underlier
    u = Underlier("XYZ", "XYZ index", 100.0, "CashIndex")
    r = OptionRoot("XYZ", "XYZ", ExpiryCycle(), exercise="European", settlement="PM",
                   option_type="Index")
    msgs: list = [Event(msg_type("RootDefinition"), "upsert", root_definition(r, u, sim_t), sim_t)]
    msgs.append(ColumnBatch(msg_type("StockBookQuote"), {
        **ticker_key_columns("ticker", ["XYZ"]), "bidPrice1": np.array([100.0]),
        "askPrice1": np.array([100.0]), "srcTimestamp": np.array([sim_t])}, sim_t))
    dt = (sim_t // 86_400_000_000_000) + 60
    ks = np.arange(80.0, 121.0, 1.0)
    strike = np.repeat(ks, 2)
    cp = np.tile(np.array([0, 1], np.int8), len(ks))
    t = 60 / 365
    p = price(100.0, strike, t, 0.045, 0.045, 0.2 - 0.3 * np.log(strike / 100), np.where(cp == 0, 1.0, -1.0),
              model="black76")
    q = {**option_key_columns("okey", np.array(["XYZ"] * len(strike), dtype=object),
                              np.full(len(strike), dt, np.int32), strike, cp),
         "bidPrice": np.round(p * 0.99, 3), "askPrice": np.round(p * 1.01 + 0.01, 3),
         "srcTimestamp": np.full(len(strike), sim_t, np.int64)}
    msgs.append(ColumnBatch(msg_type("OptionNbboQuote"), q, sim_t))
    return msgs, dt


def _liq(bus: RecordingBus) -> list[ColumnBatch]:
    return [m for m in bus.published if m.mt.name == "LiveImpliedQuote"]


def test_nbbo_change_publishes_tick_records_and_loop_has_one_uprc_per_underlier() -> None:
    t0 = 1_700_000_000_000_000_000
    bus = RecordingBus()
    eng = ImpliedQuoteEngine(bus, SimClock(t0), EngineConfig())
    eng.attach()
    msgs, dt = _chain(t0)
    for m in msgs:
        bus.publish(m)
    first = _liq(bus)
    assert first and sum(len(b.data["uPrc"]) for b in first) == 82
    tick = ordinal("LiveImpliedQuote", "calcSource", "Tick")
    assert all((b.data["calcSource"] == tick).all() for b in first)
    d = first[0].data
    ok = (d["calcErr"] == 0) & np.isfinite(d["oBidIv"])
    assert ok.sum() > 40
    mid = 0.5 * (d["oBidIv"] + d["oAskIv"])
    assert np.nanmedian(np.abs(d["sVol"][ok] - mid[ok])) < 0.005
    # one NBBO change -> one Tick record with that quote's srcTimestamp and the new underlier mid
    bus.publish(ColumnBatch(msg_type("StockBookQuote"), {
        **ticker_key_columns("ticker", ["XYZ"]), "bidPrice1": np.array([100.5]),
        "askPrice1": np.array([100.7]), "srcTimestamp": np.array([t0 + 5])}, t0 + 5))
    n0 = len(bus.published)
    bus.publish(ColumnBatch(msg_type("OptionNbboQuote"), {
        **option_key_columns("okey", np.array(["XYZ"], dtype=object), np.array([dt], np.int32),
                             np.array([100.0]), np.array([0], np.int8)),
        "bidPrice": np.array([3.0]), "askPrice": np.array([3.4]),
        "srcTimestamp": np.array([t0 + 9], np.int64)}, t0 + 9))
    new = [m for m in bus.published[n0:] if m.mt.name == "LiveImpliedQuote"]
    assert len(new) == 1 and len(new[0].data["uPrc"]) == 1
    rec = new[0].data
    assert rec["srcTimestamp"][0] == t0 + 9 and rec["uPrc"][0] == 100.6
    assert rec["calcSource"][0] == tick and rec["oBid"][0] == 3.0
    # Loop: every option, calcSource Loop, one uPrc for the underlier
    n1 = len(bus.published)
    assert eng.on_timer() == 82
    loop = [m for m in bus.published[n1:] if m.mt.name == "LiveImpliedQuote"]
    u = np.concatenate([b.data["uPrc"] for b in loop])
    assert len(u) == 82 and len(np.unique(u)) == 1
    src = np.concatenate([b.data["calcSource"] for b in loop])
    assert (src == ordinal("LiveImpliedQuote", "calcSource", "Loop")).all()
    assert any(m.mt.name == "LiveSurfaceCurve" for m in bus.published[n1:])


@pytest.mark.parametrize("model", ["alo", "baw"])
def test_row_prices_equal_surface_values_sprc_on_american_and_european_rows(model: str) -> None:
    """The price-only path (trading limits) is the model of surface_values' sPrc."""
    from openmlink.analytics import RowContext, price, row_prices, surface_values

    rng = np.random.default_rng(7)
    n = 400
    spot = rng.uniform(50, 150, n)
    strike = spot * rng.uniform(0.7, 1.3, n)
    t = rng.uniform(0.01, 2.0, n)
    r = rng.uniform(0.0, 0.06, n)
    q = rng.uniform(0.0, 0.03, n)
    ddiv = np.where(rng.random(n) < 0.3, rng.uniform(0, 2, n), 0.0)
    fwd = (spot - ddiv) * np.exp((r - q) * t)
    vol = rng.uniform(0.08, 0.9, n)
    params = np.zeros((n, 5))
    params[:, 0] = vol * vol * t  # a flat smile at vol: sVol == vol
    params[:, 4] = 1.0
    ctx = RowContext(spot, fwd, strike, np.where(rng.random(n) < 0.5, 1.0, -1.0), t, r, q, ddiv,
                     rng.random(n) < 0.5, params)
    nan = np.full(n, np.nan)
    expected = surface_values(ctx, nan, nan, model)["sPrc"]
    np.testing.assert_allclose(row_prices(ctx, vol, model), expected, rtol=1e-12, atol=1e-12)
    # American rows: the ALO value (BAW for "baw", cents away on some rows)
    am = ctx.american
    ref = price(spot - ddiv, strike, t, r, q, vol, ctx.cpf, exercise="american")
    err = np.abs(expected[am] - ref[am])
    if model == "alo":
        assert err.max() < 1e-4
    else:
        assert 1e-3 < err.max() < 0.5
