"""Generate the implied-vol initial-guess table openmlink/analytics/_lbr_table.py.

Run: python tools/derive_lbr_guess_table.py   (writes the module; about a second)

What is tabulated.  In the normalised coordinates of _lbr.py (x = ln(F/K) <= 0, s = vol*sqrt(T),
b(x, s) the normalised Black call), the table holds
    g(xi, eta) = ln(s / |x|)   where b(x, s) = beta,  xi = ln|x|,  eta = ln(beta / |x|),
on a uniform grid.  These coordinates come from the small-(x, s) limit of b: there
b(x, s) ~ s (phi(h) + h Phi(h)), h = x/s (the Bachelier form), which is homogeneous of degree
one in (x, s), so g depends on eta alone; away from that limit the dependence on xi is smooth
(b is analytic in x and s), and g is smooth in both coordinates, with no singularity inside the
box.  The solver (_lbr.py::_table_guess) interpolates g with a tensor-product 4-point Lagrange
cubic and uses s = |x| e^g as the initial guess wherever beta <= b_max/2 and (xi, eta) lies in
the box; the test tests/analytics/test_lbr_guess.py measures the guess's relative error on a
dense grid (max about 1e-5), and this script reports the same over grid mid-points.

Each node is solved here by a plain safeguarded Newton iteration on ln b (bisection in ln s
inside a bracket), using only b and its vega from _lbr.py (independent of the guess), to
1e-14 relative.  Nodes with beta >= b_max (no solution) get the nearest valid value in eta;
queries never reach them (they need beta <= b_max/2, and the stencil spans 2 cells: e^{0.4} < 2).
Values are stored as float32 (absolute error 1e-7 in ln s, far below the interpolation error).
"""

from __future__ import annotations

import base64
import math
import sys
import textwrap
from pathlib import Path

import numpy as np
from numba import njit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from openmlink.analytics._lbr import _b_otm, normalised_vega  # noqa: E402

XI0, XI1 = math.log(1e-6), math.log(4.0)  # |x| from 1e-6 to 4
ETA0, ETA1 = -40.0, math.log(0.5 / 1e-6) + 0.6  # beta/|x| from e^-40 to above b_max/2 at |x|=1e-6
STEP = 0.2
OUT = ROOT / "openmlink" / "analytics" / "_lbr_table.py"


@njit(cache=False)
def solve_exact(beta: float, x: float) -> float:
    """s with b(x, s) = beta by safeguarded Newton on ln b in ln s (slow, robust, 1e-14)."""
    lo, hi = -60.0, 8.0  # ln s bracket
    ls = 0.5 * (lo + hi)
    lnb = math.log(beta)
    for _ in range(400):
        s = math.exp(ls)
        b = _b_otm(x, s)
        if not b > 0.0:
            lo = ls
            ls = 0.5 * (lo + hi)
            continue
        f = math.log(b) - lnb
        if f > 0.0:
            hi = ls
        else:
            lo = ls
        d = s * normalised_vega(x, s) / b  # d ln b / d ln s
        new = ls - f / d if d > 0.0 else 0.5 * (lo + hi)
        if not (lo < new < hi):
            new = 0.5 * (lo + hi)
        if abs(new - ls) < 1e-15 or hi - lo < 1e-15:
            return math.exp(new)
        ls = new
    return math.exp(ls)


@njit(cache=False)
def build(xi: np.ndarray, eta: np.ndarray) -> np.ndarray:
    g = np.empty((xi.shape[0], eta.shape[0]))
    for i in range(xi.shape[0]):
        ax = math.exp(xi[i])
        bmax = math.exp(-0.5 * ax)
        last = math.nan
        for j in range(eta.shape[0]):
            beta = ax * math.exp(eta[j])
            if beta < bmax * (1.0 - 1e-9):
                last = math.log(solve_exact(beta, -ax) / ax)
            g[i, j] = last
    return g


def lagrange4(g: np.ndarray, u: float, v: float) -> float:
    """Python mirror of the solver's interpolation (u, v in grid units)."""
    i, j = math.floor(u), math.floor(v)
    fu, fv = u - i, v - j

    def w(f: float) -> tuple[float, float, float, float]:
        return (-f * (f - 1) * (f - 2) / 6, (f + 1) * (f - 1) * (f - 2) / 2,
                -(f + 1) * f * (f - 2) / 2, (f + 1) * f * (f - 1) / 6)

    wu, wv = w(fu), w(fv)
    return sum(wu[a] * wv[b] * g[i - 1 + a, j - 1 + b] for a in range(4) for b in range(4))


def main() -> None:
    nxi = round((XI1 - XI0) / STEP) + 1
    neta = round((ETA1 - ETA0) / STEP) + 1
    xi = XI0 + STEP * np.arange(nxi)
    eta = ETA0 + STEP * np.arange(neta)
    g = build(xi, eta)
    assert np.isfinite(g).all()
    g32 = g.astype(np.float32)
    # accuracy at cell mid-points where the table is used (beta <= b_max/2, stencil inside)
    worst = 0.0
    g64 = g32.astype(np.float64)
    for i in range(1, nxi - 2):
        for j in range(1, neta - 2):
            u, v = i + 0.5, j + 0.5
            ax = math.exp(XI0 + STEP * u)
            beta = ax * math.exp(ETA0 + STEP * v)
            if beta > 0.5 * math.exp(-0.5 * ax):
                continue
            s = solve_exact(beta, -ax)
            guess = ax * math.exp(lagrange4(g64, u, v))
            worst = max(worst, abs(guess / s - 1.0))
    print(f"table {nxi} x {neta}, step {STEP}: max relative guess error at mid-points {worst:.2e}")
    blob = base64.b64encode(g32.tobytes()).decode()
    lines = "\n".join(f'    "{chunk}"' for chunk in textwrap.wrap(blob, 96))
    OUT.write_text(
        '"""Generated by tools/derive_lbr_guess_table.py -- do not edit.\n\n'
        "g = ln(s/|x|) of the normalised implied vol on the grid xi = ln|x| = XI0 + i*STEP,\n"
        'eta = ln(beta/|x|) = ETA0 + j*STEP (float32, row-major (xi, eta)); see the script."""\n\n'
        "import base64\n\nimport numpy as np\n\n"
        f"XI0 = {XI0!r}\nETA0 = {ETA0!r}\nSTEP = {STEP!r}\nNXI = {nxi}\nNETA = {neta}\n"
        f"MAX_MIDPOINT_ERROR = {worst:.3e}\n\n"
        "_DATA = (\n" + lines + "\n)\n\n"
        "TABLE = np.frombuffer(base64.b64decode(_DATA), dtype=np.float32)"
        ".reshape(NXI, NETA)\n"
    )
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
