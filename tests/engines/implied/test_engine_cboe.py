"""Quote vols on the Cboe chains (SPX, SPY American, XSP) against Cboe's own IV columns: the
fixture cuts always, the full downloads of ../shared/data/cboe when present."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from openmlink.analytics import RateCurve
from openmlink.bus import RecordingBus
from openmlink.clock import SimClock
from openmlink.engines.implied import EngineConfig, ImpliedQuoteEngine
from openmlink.market import load_chain, parse_osi
from tests.support.paths import CBOE, FIXTURES

#: (chain file, fewest OTM two-sided series expected to compare)
CASES = [(FIXTURES / "cboe" / f"{n}_2023-09-14.csv", 25) for n in ("spx", "spy", "xsp")] + [
    (CBOE / f"{n}_2023-09-14.csv", 200) for n in ("spx", "spy", "xsp")
    if (CBOE / f"{n}_2023-09-14.csv").exists()]


def _cboe_ivs(path: Path) -> dict[tuple[str, int, float, int], float]:
    out = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        for r in list(csv.reader(f))[3:]:
            if len(r) < 22 or not r[1].strip() or r[1] == "Calls":
                continue
            for sym, iv in ((r[1], r[7]), (r[12], r[18])):
                root, d, cp, k = parse_osi(sym)
                out[(root, (d - date(1970, 1, 1)).days, k, 0 if cp == "Call" else 1)] = float(iv or "nan")
    return out


@pytest.mark.parametrize(("path", "least"), CASES,
                         ids=[f"{p.parent.name}-{p.stem.split('_')[0]}" for p, _ in CASES])
def test_quote_vols_match_cboe_iv_out_of_the_money(path: Path, least: int) -> None:
    name = path.stem.split("_")[0]
    snap = load_chain(path)
    bus = RecordingBus()
    eng = ImpliedQuoteEngine(bus, SimClock(snap.valuation_ns), EngineConfig(), RateCurve.flat(0.053))
    eng.attach()
    for m in snap.messages():
        bus.publish(m)
    liq = [m for m in bus.published if m.mt.name == "LiveImpliedQuote"]
    d = {k: np.concatenate([m.data[k] for m in liq]) for k in liq[0].data}
    ref = _cboe_ivs(path)
    civ = np.array([ref.get((str(a), int(b), float(c), int(e)), np.nan) for a, b, c, e in
                    zip(d["okey.tk"], d["okey.dt"], d["okey.xx"], d["okey.cp"], strict=True)])
    mid = 0.5 * (d["oBidIv"] + d["oAskIv"])
    s, k = d["uPrc"], d["okey.xx"]
    f = s + d["uOff"]
    with np.errstate(invalid="ignore"):
        otm = np.where(d["okey.cp"] == 0, k >= f, k < f)
        sel = (otm & (d["oBid"] > 0) & (d["oAsk"] > d["oBid"]) & (np.abs(k / s - 1) < 0.10)
               & (d["years"] > 7 / 365) & np.isfinite(mid) & (civ > 0))
    diff = np.abs(mid - civ)[sel] * 100
    med = float(np.median(diff))
    print(f"\n{name.upper()}: {sel.sum()} OTM two-sided series within 10% and > 7 days; "
          f"median |mid IV - Cboe IV| = {med:.3f} vol pts, p90 = {np.percentile(diff, 90):.3f}")
    assert sel.sum() >= least
    assert med < 0.5
