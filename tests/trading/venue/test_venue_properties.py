"""SimVenue properties over random sequences of submits, cancels, modifies and quote changes
(hypothesis): no overfill, fills never worse than the child price, takers at the opposite
NBBO in force, PostOnly never takes and makers fill only when touched or crossed, displayed
size never used twice, cancels final after their latency, determinism for a seed."""

from __future__ import annotations

import bisect
from collections.abc import Hashable
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.trading.venue import ChildOrder, Nbbo, SimVenue, VenueConfig, VenueEvent

TICK = 0.05
SERIES = ("S0", "S1")


@dataclass
class Run:
    events: list[VenueEvent] = field(default_factory=list)
    children: dict[int, ChildOrder] = field(default_factory=dict)
    quotes: dict[Hashable, tuple[list[int], list[Nbbo]]] = field(default_factory=dict)
    cancels: list[tuple[int, int]] = field(default_factory=list)  # (child id, time)
    live_at_end: dict[int, int] = field(default_factory=dict)

    def quote_at(self, s: Hashable, t: int) -> Nbbo:
        times, qs = self.quotes[s]
        return qs[bisect.bisect_right(times, t) - 1]


quote_op = st.tuples(st.just("quote"), st.integers(0, 1), st.integers(14, 26), st.integers(0, 4),
                     st.integers(0, 30), st.integers(0, 30))
submit_op = st.tuples(st.just("submit"), st.integers(0, 1), st.sampled_from([1, -1]),
                      st.integers(-6, 3), st.integers(1, 40), st.sampled_from(["IOC", "Day", "Day"]),
                      st.booleans())
cancel_op = st.tuples(st.just("cancel"), st.integers(0, 200))
modify_op = st.tuples(st.just("modify"), st.integers(0, 200), st.integers(-3, 3), st.integers(0, 40))
ops_strategy = st.lists(st.tuples(st.one_of(quote_op, quote_op, submit_op, submit_op, cancel_op,
                                            modify_op), st.integers(1, 600_000)),
                        min_size=10, max_size=100)
config_strategy = st.builds(
    VenueConfig, prob_fill_on_limit=st.sampled_from([0.0, 0.5, 1.0]),
    prob_slippage=st.sampled_from([0.0, 0.5]), partial_fill_max_pieces=st.integers(1, 3),
    ticks=st.just(lambda s: (TICK, TICK)))


def _run(ops: list, cfg: VenueConfig, seed: int) -> Run:
    run = Run()
    book: dict[Hashable, Nbbo] = {}
    ts = 0

    def set_quote(s: str, bid_t: int, width_t: int, bsz: int, asz: int, t: int) -> None:
        nonlocal ts
        ts += 1
        bid = round(bid_t * TICK, 2)
        q = Nbbo(bid, round(bid + (width_t + 1) * TICK, 2), bsz, asz, 1 << 3, 1 << 4, ts)
        book[s] = q
        times, qs = run.quotes.setdefault(s, ([], []))
        times.append(t)
        qs.append(q)

    for s in SERIES:
        set_quote(s, 20, 2, 10, 10, 0)
    v = SimVenue(book.get, cfg, seed)
    t = 0
    ids: list[int] = []
    for op, dt in ops:
        t += dt
        if op[0] == "quote":
            _, si, bid_t, width_t, bsz, asz = op
            set_quote(SERIES[si], bid_t, width_t, bsz, asz, t)
            v.market_changed([SERIES[si]], t)
        elif op[0] == "submit":
            _, si, side, off, size, tif, po = op
            q = book[SERIES[si]]
            ref = q.ask if side > 0 else q.bid
            price = max(round(ref + off * TICK, 2), TICK)
            c = ChildOrder(len(run.children) + 1, 7, SERIES[si], side, price, size, "", tif, po)
            run.children[c.child_id] = c
            ids.append(c.child_id)
            v.submit(c, t)
        elif op[0] == "cancel" and ids:
            cid = ids[op[1] % len(ids)]
            run.cancels.append((cid, t))
            v.cancel(cid, t)
        elif op[0] == "modify" and ids:
            cid = ids[op[1] % len(ids)]
            c = run.children[cid]
            v.modify(cid, max(round(c.price + op[2] * TICK, 2), TICK), op[3], t)
        run.events += v.advance(t)
    run.events += v.advance(t + 10**9)
    run.live_at_end = {lc.child.child_id: lc.leaves for lc in v.live_children(7)}
    return run


@settings(max_examples=150, deadline=None)
@given(ops=ops_strategy, cfg=config_strategy, seed=st.integers(0, 2**32 - 1))
def test_venue_invariants(ops: list, cfg: VenueConfig, seed: int) -> None:
    run = _run(ops, cfg, seed)
    ev = run.events
    assert [e.ts_ns for e in ev] == sorted(e.ts_ns for e in ev)  # time-ordered
    terms = {cid: (c.price, c.size) for cid, c in run.children.items()}
    filled = dict.fromkeys(run.children, 0)
    done: set[int] = set()
    used: dict[tuple[Hashable, int, int], int] = {}
    for e in ev:
        c = run.children[e.child_id]
        if e.kind in ("cancel_rejected", "modify_rejected"):
            continue
        assert e.child_id not in done, f"event after the end of child {e.child_id}: {e}"
        if e.kind == "modified":
            terms[e.child_id] = (e.price, terms[e.child_id][1] if e.leaves is None else
                                 filled[e.child_id] + e.leaves)
        elif e.kind == "fill":
            price, size = terms[e.child_id]
            filled[e.child_id] += e.qty
            assert e.qty > 0
            assert filled[e.child_id] <= size  # no overfill
            assert e.leaves == size - filled[e.child_id]
            assert (e.price - price) * c.side <= 1e-9  # never worse than the child price
            q = run.quote_at(c.series, e.ts_ns)
            opp = q.ask if c.side > 0 else q.bid
            if e.maker_taker == "Taker":
                assert not c.post_only  # PostOnly never takes
                if cfg.prob_slippage == 0.0:
                    assert abs(e.price - opp) < 1e-9  # at the opposite NBBO in force
                else:
                    assert abs(e.price - opp) < 1e-9 or abs(e.price - opp - c.side * TICK) < 1e-9
            else:
                assert e.maker_taker == "Maker"
                assert opp > 0 and (price - opp) * c.side >= -1e-9  # touched or crossed
            key = (c.series, q.ts_ns, c.side)
            used[key] = used.get(key, 0) + e.qty
            assert used[key] <= (q.ask_size if c.side > 0 else q.bid_size)  # size used once
            if e.leaves == 0:
                done.add(e.child_id)
        elif e.kind in ("cancelled", "expired", "rejected"):
            done.add(e.child_id)
    # cancels: one answer each, exactly at cancel time + latency (no jitter configured)
    lat = cfg.base_latency_ns + cfg.cancel_latency_ns
    answers = [(e.child_id, e.ts_ns) for e in ev if e.kind == "cancel_rejected"
               or (e.kind == "cancelled" and e.reason == "cancel")]
    assert sorted(answers) == sorted((cid, t + lat) for cid, t in run.cancels)
    # whatever has not ended is still live at the venue, with the right leaves
    for cid in run.children:
        if cid in done:
            assert cid not in run.live_at_end
        else:
            assert run.live_at_end[cid] == terms[cid][1] - filled[cid]


@settings(max_examples=30, deadline=None)
@given(ops=ops_strategy, seed=st.integers(0, 2**32 - 1))
def test_venue_is_deterministic_for_a_seed(ops: list, seed: int) -> None:
    cfg = VenueConfig(prob_fill_on_limit=0.5, prob_slippage=0.3, partial_fill_max_pieces=3,
                      jitter_ns=50_000)
    assert _run(ops, cfg, seed).events == _run(ops, cfg, seed).events
