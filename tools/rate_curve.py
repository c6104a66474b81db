"""Write a rate-curve file (docs/rates.md) from Cboe chain files of European index options.

    python tools/rate_curve.py CHAIN.csv [CHAIN.csv ...] > rates.csv

Each chain is loaded into the implied-quote engine (one snapshot, no base-curve influence
beyond a wide prior); the per-expiry parity rates of its rate underliers (SPX, XSP, NDX, RUT)
give the curve (``RateCurve.implied``), sampled at standard tenors and dated with the chains'
valuation date.  The shipped default, openmlink/engines/implied/data/rates_2023-09-14.csv, is
``python tools/rate_curve.py ../shared/data/cboe/spx_2023-09-14.csv ../shared/data/cboe/xsp_2023-09-14.csv``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import numpy as np

from openmlink.analytics import RateCurve
from openmlink.bus import RecordingBus
from openmlink.clock import SimClock
from openmlink.engines.implied import EngineConfig, ImpliedQuoteEngine
from openmlink.market import load_chain
from openmlink.timeutil import NS_PER_YEAR

TENORS_DAYS = (1, 7, 14, 30, 61, 91, 122, 152, 182, 273, 365, 456, 547, 730, 1095)


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    snaps = [load_chain(p) for p in paths]
    val = max(s.valuation_ns for s in snaps)
    bus = RecordingBus()
    eng = ImpliedQuoteEngine(bus, SimClock(val), EngineConfig(publish_surfaces=False),
                             RateCurve.flat(0.0))
    eng.ready = False
    eng.attach()
    for s in snaps:
        for m in s.messages():
            bus.publish(m)
    eng.ready = True
    eng.on_timer(val)
    obs = eng.rates.obs
    if not obs:
        print("no parity rates in these chains (no European rate-underlier expiries)", file=sys.stderr)
        return 1
    settle = np.array([v[0] for v in obs.values()], np.int64)
    rs = np.array([v[1] for v in obs.values()])
    se = np.array([v[2] for v in obs.values()])
    t = (settle - val) / NS_PER_YEAR
    good = se < 0.002
    prior = RateCurve.flat(float(np.median(rs[good])) if good.any() else float(np.median(rs)))
    day = datetime.fromtimestamp(val / 1e9, UTC).date().isoformat()
    curve = RateCurve.implied(t, rs, se, prior, as_of=day)
    days = np.array(TENORS_DAYS, np.float64)
    out = RateCurve(days / 365.0, curve.rate(days / 365.0), day)
    names = ", ".join(s.path.name for s in snaps)
    sys.stdout.write(out.to_text(f"Zero rates implied by put-call parity (box spreads) on {names}\n"
                                 f"(tools/rate_curve.py); continuously compounded, Act/365."))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
