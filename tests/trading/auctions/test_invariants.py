"""trading.md §6.2 invariant 11 on randomized auctions through the order manager and the
auction engine (hypothesis): matchSize <= custQty; AON never partially fills; every auction
fill at the published final matchPrice; responder fills <= their response sizes; the counter
rises by one per trial; block trials 1 s apart; flash ends within its window; responses after
the end rejected; sum of responder fills = initiator fill."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.trading import AuctionConfig
from tests.support.auctions import AuctionRig
from tests.support.trading import check_invariants

EX, NX = "SpdrParentExecution", "NoticeExecReport"

response = st.tuples(st.integers(0, 4000), st.integers(1, 80), st.integers(-6, 6),
                     st.booleans())  # arrival ms, size, price ticks from 5.00, cancel later


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["FlashAuction", "BlockAuction"]),
       side=st.sampled_from(["Buy", "Sell"]), qty=st.integers(1, 150),
       cond=st.sampled_from(["AllOrNone", "UpToQty", "QtyOrMore", "AtMost25", "AtMost50"]),
       immediate=st.booleans(), sims=st.integers(0, 12), seed=st.integers(1, 1000),
       at_most=st.sampled_from([0.0, 0.5]), resps=st.lists(response, max_size=8))
def test_invariant_11(kind: str, side: str, qty: int, cond: str, immediate: bool, sims: int,
                      seed: int, at_most: float, resps: list[tuple[int, int, int, bool]]) -> None:
    r = AuctionRig(AuctionConfig(seed=seed, sim_responders=sims, sim_at_most=at_most))
    r.stock("AAPL", 199.9, 200.1)
    r.option("AAPL", 200, "Put", 4.9, 5.1, bsz=20, asz=20)
    init = 1 if side == "Buy" else -1
    o = r.order(parentOrderHandling=kind, orderSide=side, orderSize=qty, takeReachRule=cond,
                orderPrcLimit=5.0 + init * 0.05, activeDuration=4, atsVisibility="SidePrice",
                progressRule="AllowImmediate" if immediate else "None")
    nn = r.notice_of(o["parentNumber"])
    flash = kind == "FlashAuction"
    sizes: dict[str, int] = {}
    events = sorted((t if not flash else t % 25, i, sz, px, cx)
                    for i, (t, sz, px, cx) in enumerate(resps))
    now_ms = 0
    rejected_after_end = 0
    for t, i, sz, px, cx in events:
        if t > now_ms:
            for _ in range(t - now_ms if flash else (t - now_ms) // 100):
                r.advance(1 if flash else 100, 1)
            now_ms = t
        ended = nn not in r.auctions.manager.live or \
            r.auctions.manager.live[nn].status != "Active"
        why = r.respond(nn, accnt=f"R{i}", firm=f"F{i}", rid=f"r{i}",
                        side="Sell" if init > 0 else "Buy", size=sz, price=5.0 + px * 0.05)
        if ended:
            assert why is not None and "ended" in why
            rejected_after_end += 1
            continue
        assert why is None, why
        sizes[f"R{i}"] = sz
        if cx and i % 2:
            assert r.respond(nn, accnt=f"R{i}", firm=f"F{i}", rid=f"c{i}", size=0) is None
            sizes[f"R{i}"] = 0
    for _ in range(70 if not flash else 1):
        r.advance(100 if not flash else 30, 1)
    a = r.auctions.manager.finished[nn]
    states = r.auction_states(nn)
    names = r.status_names(nn)
    assert names[-1] in (("Crossed", "CrossFailed") if flash else ("Closed",))
    counters = [s["atsAuctionCounter"] for s in states]
    assert counters == sorted(counters) and set(counters) == set(range(1, max(counters) + 1))
    if flash:
        assert len(states) == 1 and states[0]["timestamp"] - a.start_ns <= 100_000_000
    else:
        ts = sorted(set(a.trial_times))
        assert all(b - x == 1_000_000_000 for x, b in itertools.pairwise(ts))
    sol_key = "BidSolution" if init < 0 else "AskSolution"
    every = r.published(EX)
    resp_fills = [f for f in every if r.name(EX, "parentOrderHandling", f["parentOrderHandling"])
                  == "AtsResponse"]
    fills = [f for f in every if f not in resp_fills]
    init_fill = sum(f["fillQuantity"] for f in fills)
    assert init_fill == a.init_fill == sum(q for *_, q, _ in a.fills)
    if "Crossed" in names:
        sol = states[-1 if flash else names.index("Crossed")][sol_key][0]
        assert sol["matchSize"] <= qty and init_fill == sol["matchSize"]
        assert all(f["fillPrice"] == sol["matchPrice"] for f in fills)
        assert all(px == sol["matchPrice"] for *_, px in a.fills)
    else:
        assert init_fill == 0
    if cond == "AllOrNone":
        assert init_fill in (0, qty)
    for acc, _firm, q, _px in a.fills:
        if acc in sizes:
            assert q <= sizes[acc]
    share = {"AtMost25": 0.25, "AtMost50": 0.5}.get(cond)
    if share is not None:  # no response, real or simulated, takes more than its share of Q
        assert all(q <= max(1, int(share * qty)) for *_, q, _px in a.fills)
    for rep in r.published(NX):
        if rep["accnt"] in sizes:
            assert rep["cumFillQty"] <= rep["respSize"]
    # every real responder's allocation is one execution of its own account at matchPrice,
    # on the other side, reported on its NoticeExecReport; simulated responders get none
    real = {(acc, firm): q for acc, firm, q, _px in a.fills if acc in sizes}
    assert {(f["accnt"], f["clientFirm"]): f["fillQuantity"] for f in resp_fills} == real
    assert len(resp_fills) == len(real)
    last_rep = {(x["accnt"], x["clientFirm"]): x for x in r.published(NX)}
    for f in resp_fills:
        assert f["fillPrice"] == a.match_price and f["noticeNumber"] == nn
        assert r.name(EX, "orderSide", f["orderSide"]) == ("Sell" if init > 0 else "Buy")
        rep = last_rep[(f["accnt"], f["clientFirm"])]
        assert rep["cumFillQty"] == f["fillQuantity"] and rep["baseParentNumber"] == f["parentNumber"]
    assert r.respond(nn, accnt="LATE", firm="LATE", rid="late", side="Sell" if init > 0
                     else "Buy", size=1, price=5.0) is not None
    check_invariants(r, quiescent=True)
