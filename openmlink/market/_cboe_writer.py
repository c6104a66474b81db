"""Writes simulator chains in the Cboe delayed-quote CSV layout (generated demo data).

The package ships no market data; ``openmlink chain-demo --out DIR`` uses this to produce
chain files that ``openmlink serve --chain`` (and ``load_chain``) read back exactly.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from ._calendar import NEW_YORK
from ._simulator import MarketSimulator

__all__ = ["osi_symbol", "write_chain_csv"]

_EPOCH = date(1970, 1, 1)
_HEADER = ["Expiration Date", "Calls", "Last Sale", "Net", "Bid", "Ask", "Volume", "IV",
           "Delta", "Gamma", "Open Interest", "Strike", "Puts", "Last Sale", "Net", "Bid", "Ask",
           "Volume", "IV", "Delta", "Gamma", "Open Interest"]


def osi_symbol(root: str, expiry: date, cp: str, strike: float) -> str:
    """``("SPXW", 2023-09-14, "C", 1200.0)`` -> ``SPXW230914C01200000``."""
    return f"{root}{expiry:%y%m%d}{cp}{round(strike * 1000):08d}"


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x else "0"


def write_chain_csv(sim: MarketSimulator, symbol: str, path: str | Path) -> int:
    """Write the current quotes of every series on ``symbol`` (all its roots); returns the
    number of series written."""
    m = sim.master
    s = m.series
    ui = m.underlier_index(symbol)
    rows = np.flatnonzero(s.und_idx == ui)
    q = sim.option_quotes(rows).data
    bid, ask = q["bidPrice"], q["askPrice"]
    by_key: dict[tuple[int, float, str], dict[int, int]] = {}
    for j, i in enumerate(rows.tolist()):
        key = (int(s.dt_days[i]), float(s.strike[i]), str(s.tk[i]))
        by_key.setdefault(key, {})[int(s.cp[i])] = j
    u = m.underliers[ui]
    spot = float(sim.spot[ui])
    local = datetime.fromtimestamp(sim.now_ns / 1e9, tz=UTC).astimezone(NEW_YORK)
    stamp = f"Date: {local:%B} {local.day}, {local.year} at {local:%I:%M %p} {local.tzname()}"
    sb, sa = sim._stock_bbo()
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([])
        w.writerow([u.name, f"Last: {spot:.4f}", f"Change: {spot - u.spot:.4f}"])
        w.writerow([stamp, f"Bid: {sb[ui]:.2f}", f"Ask: {sa[ui]:.2f}", "Size: 1*1", "Volume: 0"])
        w.writerow(_HEADER)
        n = 0
        for (days, strike, root), sides in sorted(by_key.items(), key=lambda kv: (kv[0][0],
                                                                                  kv[0][2],
                                                                                  kv[0][1])):
            if 0 not in sides or 1 not in sides:
                continue
            d = _EPOCH + timedelta(days=days)
            c, p = sides[0], sides[1]
            w.writerow([f"{d:%a %b %d %Y}", osi_symbol(root, d, "C", strike), 0, 0,
                        _fmt(bid[c]), _fmt(ask[c]), 0, 0, 0, 0, 0, f"{strike:.2f}",
                        osi_symbol(root, d, "P", strike), 0, 0, _fmt(bid[p]), _fmt(ask[p]),
                        0, 0, 0, 0, 0])
            n += 2
    return n
