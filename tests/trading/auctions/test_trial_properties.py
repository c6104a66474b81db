"""Properties of the pure trial match and allocation (trading.md §3.2), by hypothesis."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.trading.auctions import allocate_pro_rata, solve

TICK = 0.05

responses = st.lists(st.tuples(st.integers(60, 140), st.integers(1, 80)), min_size=0,
                     max_size=12)


@settings(max_examples=300, deadline=None)
@given(responses, st.sampled_from([-1, 1]), st.integers(1, 200), st.integers(80, 120),
       st.sampled_from(["AllOrNone", "UpToQty", "QtyOrMore"]))
def test_solution_is_the_best_feasible_price_and_allocation_conserves(
        resp: list[tuple[int, int]], side: int, qty: int, lim_ticks: int, cond: str) -> None:
    prices = np.array([p * TICK for p, _ in resp], np.float64)
    sizes = np.array([s for _, s in resp], np.int64)
    ids = np.arange(len(resp), dtype=np.int64)
    limit = lim_ticks * TICK
    sol = solve(side, qty, limit, cond, prices, sizes, ids, TICK)
    s = -side  # x = s * price: higher is better for the initiator
    if not sol.matched:
        # no price at or better than the limit has enough size for the condition
        ok = prices[s * prices >= s * limit - 1e-9]
        need = qty if cond != "UpToQty" else 1
        assert sizes[s * prices >= s * limit - 1e-9].sum() < need or len(ok) == 0
        return
    assert sol.match_size <= qty
    assert s * sol.match_price >= s * limit - 1e-9  # never worse than the initiator's limit
    assert abs(sol.match_price / TICK - round(sol.match_price / TICK)) < 1e-6
    willing = s * prices >= s * sol.match_price - 1e-9
    assert sol.match_size == min(qty, int(sizes[willing].sum()))
    if cond != "UpToQty":
        assert sol.match_size == qty
    # no better tick price would also have satisfied the condition
    better = s * prices >= s * (sol.match_price + s * TICK) - 1e-9
    need = qty if cond != "UpToQty" else 1
    assert sizes[better].sum() < need
    assert sol.num_responders == int(willing.sum())
    x = s * prices[willing]
    alloc = allocate_pro_rata(x, sizes[willing], np.arange(len(x), dtype=np.int64),
                              sol.match_size)
    assert int(alloc.sum()) == sol.match_size
    assert (alloc >= 0).all() and (alloc <= sizes[willing]).all()
    # price priority: a response not filled in full means every worse one got nothing
    for i in range(len(x)):
        if alloc[i] < sizes[willing][i]:
            assert (alloc[x < x[i] - 1e-9] == 0).all()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 100), min_size=1, max_size=10), st.integers(0, 400))
def test_pro_rata_at_one_level_is_proportional_within_one_contract(sizes_: list[int],
                                                                    total: int) -> None:
    sizes = np.array(sizes_, np.int64)
    total = min(total, int(sizes.sum()))
    alloc = allocate_pro_rata(np.zeros(len(sizes)), sizes, np.arange(len(sizes)), total)
    assert int(alloc.sum()) == total
    fair = sizes * total / sizes.sum()
    assert (np.abs(alloc - fair) <= 1.0 + 1e-9).all()
