"""Implied-vol initial-guess table and one-step stopping rule (openmlink/analytics/_lbr.py)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from openmlink.analytics import _lbr_table as tab
from openmlink.analytics import price
from openmlink.analytics._lbr import (
    _STOP_TOL,
    _iterate,
    _table_guess,
    normalised_black_call,
    normalised_vega,
    solve_normalised,
)


@njit(cache=False)
def _guess_errors(xs: np.ndarray, ss: np.ndarray) -> np.ndarray:
    """Relative error of the table guess at each (x, s) it covers (NaN elsewhere)."""
    out = np.full((xs.shape[0], ss.shape[0]), np.nan)
    for i in range(xs.shape[0]):
        for j in range(ss.shape[0]):
            x, s = xs[i], ss[j]
            b = normalised_black_call(x, s)
            if not (b > 1e-300 and b <= 0.5 * math.exp(0.5 * x)):
                continue
            g = _table_guess(math.log(b), -x)
            if g > 0.0:
                out[i, j] = abs(g / s - 1.0)
    return out


def test_table_guess_accuracy_on_a_dense_grid() -> None:
    xs = -np.geomspace(1.2e-6, 3.9, 300)
    ss = np.geomspace(1e-4, 10.0, 300)
    err = _guess_errors(xs, ss)
    covered = err[np.isfinite(err)]
    assert covered.size > 40_000  # the table covers most of the low-objective domain
    assert np.median(covered) < 1e-6
    assert np.percentile(covered, 99.0) < 5e-4
    assert (covered > _STOP_TOL).mean() < 0.01  # these take a second evaluation
    assert covered.max() < 2e-2  # worst near beta = b_max/2 at |x| ~ 3 (s > 2)
    assert tab.TABLE.shape == (tab.NXI, tab.NETA)


@njit(cache=False)
def _one_step_errors(xs: np.ndarray, ss: np.ndarray, delta: float) -> np.ndarray:
    """Worst relative error after ONE Householder(3) evaluation from s(1 -+ delta)."""
    out = np.zeros((xs.shape[0], ss.shape[0]))
    for i in range(xs.shape[0]):
        x = xs[i]
        sc = math.sqrt(-2.0 * x)
        bmax = math.exp(0.5 * x)
        for j in range(ss.shape[0]):
            s = ss[j]
            b = normalised_black_call(x, s)
            if not b > 1e-300 or s * normalised_vega(x, s) / b < 1e-5:
                continue
            high = b > 0.5 * bmax
            target = math.log(bmax - b) if high else math.log(b)
            for sign in (-1.0, 1.0):
                s0 = s * (1.0 + sign * delta)
                if high and s0 <= sc:
                    continue
                got = _iterate(x, target, high, s0, sc if high else 0.0, math.inf, math.inf)[0]
                out[i, j] = max(out[i, j], abs(got / s - 1.0))
    return out


def test_one_householder_step_from_the_stopping_tolerance_reaches_1e12() -> None:
    """The stopping rule: a step below _STOP_TOL means the point was within ~_STOP_TOL of the
    root, and one step from there lands within C e^4 + rounding, far below 1e-10."""
    xs = -np.concatenate([[0.0], np.geomspace(1e-8, 10.0, 120)])
    ss = np.geomspace(1e-4, 10.0, 120)
    worst = _one_step_errors(xs, ss, 2.0 * _STOP_TOL).max()  # twice the tolerance for margin
    assert worst < 1e-11, worst
    # quartic convergence: from 1e-2 the error is C e^4 with a moderate C
    assert _one_step_errors(xs, ss, 1e-2).max() < 10.0 * 1e-8


def _benchmark_sample(n: int, otm_heavy: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    width, lo, hi = (1.0, 0.05, 0.5) if otm_heavy else (0.3, 0.1, 0.8)
    s = 100.0 * np.exp(rng.uniform(-width, width, n))
    t = np.exp(rng.uniform(np.log(7 / 365), np.log(2.0), n))
    r = rng.uniform(0.0, 0.06, n)
    q = rng.uniform(0.0, 0.03, n)
    vol = rng.uniform(lo, hi, n)
    cp = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    p = price(s, 100.0, t, r, q, vol, cp)
    fwd = s * np.exp((r - q) * t)
    und = p * np.exp(r * t)
    tv = und - np.maximum(cp * (fwd - 100.0), 0.0)
    keep = (tv > 1e-4 * und) & (tv > 1e-300)
    return tv[keep] / np.sqrt(fwd[keep] * 100.0), -np.abs(np.log(fwd[keep] / 100.0)), (
        vol * np.sqrt(t))[keep]


def test_one_evaluation_per_solve_on_benchmark_samples() -> None:
    for otm_heavy in (False, True):
        beta, x, sn = _benchmark_sample(20_000, otm_heavy)
        res = [solve_normalised(float(b), float(xx)) for b, xx in zip(beta, x, strict=True)]
        got = np.array([r[0] for r in res])
        evals = np.array([r[1] for r in res])
        np.testing.assert_allclose(got, sn, rtol=1e-10)
        assert evals.mean() <= 1.01, (otm_heavy, evals.mean())
        assert evals.max() <= 3


def test_rounding_level_residual_does_not_start_a_bisection() -> None:
    # Before the fix: f = 3.6e-15 at the root, a step below one ulp, then 50 bisections.
    s, n = solve_normalised(1.2182427515109994e-10, -0.37107741387289145)
    assert abs(s / 0.06629756153536626 - 1.0) < 1e-12 and n <= 2


def test_fallback_paths_outside_the_table_still_converge_quickly() -> None:
    rng = np.random.default_rng(12)
    evals = []
    for _ in range(3000):
        x = -10.0 ** rng.uniform(-9, 1.3)  # below 1e-6 and above 4 fall outside the table
        sn = 10.0 ** rng.uniform(-3, 1)
        b = normalised_black_call(x, sn)
        if not b > 1e-300 or sn * normalised_vega(x, sn) / b < 1e-5:
            continue
        got, n = solve_normalised(b, x)
        assert abs(got / sn - 1.0) < 1e-10, (x, sn)
        evals.append(n)
    assert np.mean(evals) < 2.5 and max(evals) <= 12
