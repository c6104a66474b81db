"""SimVenue behaviour, one rule at a time: latencies, taker and maker fills, liquidity
consumption, PostOnly, cancels racing fills, modify, halts, fees, partial fills."""

from __future__ import annotations

from collections.abc import Hashable

import pytest

from openmlink.trading.venue import (
    EXCHANGE_FEES,
    ChildOrder,
    Nbbo,
    SimVenue,
    VenueConfig,
    VenueEvent,
    exchange_bit,
    exchanges_of,
)

MS = 1_000_000
LAT = 300_000  # default base + insert / cancel latency


class Book:
    def __init__(self) -> None:
        self.q: dict[Hashable, Nbbo] = {}
        self.ts = 0

    def set(self, s: Hashable, bid: float, ask: float, bsz: int = 10, asz: int = 10,
            bex: str = "CBOE", aex: str = "ISE") -> None:
        self.ts += 1
        self.q[s] = Nbbo(bid, ask, bsz, asz, exchange_bit(bex), exchange_bit(aex), self.ts)

    def __call__(self, s: Hashable) -> Nbbo | None:
        return self.q.get(s)


def _venue(book: Book, **cfg: object) -> SimVenue:
    return SimVenue(book, VenueConfig(**cfg), seed=7)  # type: ignore[arg-type]


def child(cid: int, side: int, price: float, size: int, tif: str = "Day", post_only: bool = False,
          series: str = "A", exch: str = "", parent: int = 1) -> ChildOrder:
    return ChildOrder(cid, parent, series, side, price, size, exch, tif, post_only)


def kinds(evs: list[VenueEvent]) -> list[tuple[str, int, int]]:
    return [(e.kind, e.child_id, e.qty) for e in evs]


def test_exchange_bits_follow_the_optexch_enum() -> None:
    assert exchange_bit("AMEX") == 1 << 1 and exchange_bit("CBOE") == 1 << 3
    assert exchanges_of(exchange_bit("CBOE") | exchange_bit("MIAX")) == ["CBOE", "MIAX"]
    with pytest.raises(KeyError, match="OptExch"):
        exchange_bit("NOPE")


def test_taker_fills_at_the_opposite_nbbo_after_the_insert_latency_and_ioc_expires() -> None:
    b = Book()
    b.set("A", 1.00, 1.10, asz=8, aex="ISE")
    v = _venue(b)
    v.submit(child(1, +1, 1.20, 10, tif="IOC"), 0)
    assert v.advance(LAT - 1) == []
    evs = v.advance(LAT)
    assert kinds(evs) == [("ack", 1, 0), ("fill", 1, 8), ("expired", 1, 0)]
    fill = evs[1]
    assert fill.price == 1.10 and fill.exch == "ISE" and fill.maker_taker == "Taker"
    assert fill.fee == pytest.approx(8 * EXCHANGE_FEES["ISE"][1])
    assert fill.ts_ns == LAT and evs[2].leaves == 2
    assert v.live_series() == set() and v.live_children(1) == []


def test_taker_prefers_its_own_exchange_when_it_is_at_the_nbbo() -> None:
    b = Book()
    b.q["A"] = Nbbo(1.0, 1.1, 10, 10, exchange_bit("CBOE"), exchange_bit("ISE") | exchange_bit("MIAX"), 1)
    v = _venue(b)
    v.submit(child(1, +1, 1.1, 1, exch="MIAX"), 0)
    v.submit(child(2, +1, 1.1, 1, exch="CBOE"), 0)
    fills = [e for e in v.advance(MS) if e.kind == "fill"]
    assert [(f.child_id, f.exch) for f in fills] == [(1, "MIAX"), (2, "ISE")]


def test_day_remainder_rests_and_fills_as_maker_when_crossed() -> None:
    b = Book()
    b.set("A", 1.00, 1.10, asz=5)
    v = _venue(b, prob_fill_on_limit=0.0)
    v.submit(child(1, +1, 1.10, 12, exch="CBOE"), 0)
    assert kinds(v.advance(MS)) == [("ack", 1, 0), ("fill", 1, 5)]
    assert [(c.leaves, c.filled) for c in v.live_children(1)] == [(7, 5)]
    # ask moves down through our price: maker fill at our price, up to the crossing size
    b.set("A", 0.95, 1.05, asz=4)
    v.market_changed(["A"], 2 * MS)
    evs = v.advance(2 * MS)
    assert kinds(evs) == [("fill", 1, 4)]
    assert evs[0].price == 1.10 and evs[0].maker_taker == "Maker" and evs[0].exch == "CBOE"
    assert evs[0].fee == pytest.approx(4 * EXCHANGE_FEES["CBOE"][0])


def test_touch_fills_with_the_configured_probability() -> None:
    def run(p: float) -> int:
        b = Book()
        b.set("A", 1.00, 1.10)
        v = SimVenue(b, VenueConfig(prob_fill_on_limit=p), seed=1)
        v.submit(child(1, -1, 1.10, 1000, post_only=True), 0)
        v.advance(MS)
        filled = 0
        for i in range(200):
            b.set("A", 1.00 + (i % 2) * 0.05, 1.10, asz=10, bsz=1)  # bid never reaches 1.10
            b.set("A", 1.10, 1.15, bsz=1, asz=10)  # bid touches our offer
            v.market_changed(["A"], (2 + i) * MS)
            filled += sum(e.qty for e in v.advance((2 + i) * MS) if e.kind == "fill")
        return filled

    assert run(0.0) == 0
    assert run(1.0) == 200
    assert 40 < run(0.3) < 80


def test_postonly_that_would_cross_is_rejected_with_a_reason() -> None:
    b = Book()
    b.set("A", 1.00, 1.10)
    v = _venue(b)
    v.submit(child(1, +1, 1.10, 5, post_only=True), 0)
    v.submit(child(2, -1, 0.90, 5, post_only=True), 0)
    v.submit(child(3, +1, 1.05, 5, post_only=True), 0)
    evs = v.advance(MS)
    assert kinds(evs) == [("rejected", 1, 0), ("rejected", 2, 0), ("ack", 3, 0)]
    assert "PostOnly" in evs[0].reason and "1.1" in evs[0].reason


def test_liquidity_is_not_reused_until_the_quote_refreshes() -> None:
    b = Book()
    b.set("A", 1.00, 1.10, asz=10)
    v = _venue(b)
    v.submit(child(1, +1, 1.10, 6, tif="IOC"), 0)
    v.submit(child(2, +1, 1.10, 6, tif="IOC"), 0)
    assert [(e.child_id, e.qty) for e in v.advance(MS) if e.kind == "fill"] == [(1, 6), (2, 4)]
    # same prices, new quote version: size is displayed again
    b.set("A", 1.00, 1.10, asz=10)
    v.submit(child(3, +1, 1.10, 6, tif="IOC"), 2 * MS)
    assert [(e.child_id, e.qty) for e in v.advance(3 * MS) if e.kind == "fill"] == [(3, 6)]


def test_without_liquidity_consumption_displayed_size_is_reused() -> None:
    b = Book()
    b.set("A", 1.00, 1.10, asz=10)
    v = _venue(b, liquidity_consumption=False)
    v.submit(child(1, +1, 1.10, 6, tif="IOC"), 0)
    v.submit(child(2, +1, 1.10, 6, tif="IOC"), 0)
    assert [(e.child_id, e.qty) for e in v.advance(MS) if e.kind == "fill"] == [(1, 6), (2, 6)]


def test_actions_due_before_a_change_see_the_old_quote() -> None:
    b = Book()
    b.set("A", 1.00, 1.10)
    v = _venue(b)
    v.submit(child(1, +1, 1.10, 1, tif="IOC"), 0)  # arrives at 0.3 ms
    b.set("A", 1.00, 1.20)
    v.market_changed(["A"], MS)  # the ask moved away at 1 ms, after the child took
    evs = v.advance(MS)
    assert [(e.kind, e.price) for e in evs] == [("ack", 1.10), ("fill", 1.10)]
    v.submit(child(2, +1, 1.10, 1, tif="IOC"), MS)  # arrives at 1.3 ms: nothing to take
    assert kinds(v.advance(2 * MS)) == [("ack", 2, 0), ("expired", 2, 0)]


def test_cancel_takes_effect_after_its_latency_and_fills_can_race_it() -> None:
    b = Book()
    b.set("A", 1.00, 1.10)
    v = _venue(b, prob_fill_on_limit=1.0)
    v.submit(child(1, +1, 1.05, 10), 0)
    v.advance(MS)
    v.cancel(1, 2 * MS)  # effective at 2.3 ms
    b.set("A", 1.00, 1.05, asz=3)
    v.market_changed(["A"], 2 * MS + 100_000)  # touch before the cancel lands
    evs = v.advance(3 * MS)
    assert kinds(evs) == [("fill", 1, 3), ("cancelled", 1, 0)]
    assert evs[1].ts_ns == 2 * MS + LAT and evs[1].leaves == 7
    # a cancel after the child is gone is refused, and nothing else happens
    v.cancel(1, 4 * MS)
    evs = v.advance(5 * MS)
    assert kinds(evs) == [("cancel_rejected", 1, 0)]
    b.set("A", 1.00, 1.01)
    v.market_changed(["A"], 6 * MS)
    assert v.advance(6 * MS) == []


def test_cancel_that_overtakes_the_insert_means_the_child_never_lives() -> None:
    b = Book()
    b.set("A", 1.00, 1.10)
    v = _venue(b, insert_latency_ns=5 * MS, cancel_latency_ns=0)
    v.submit(child(1, +1, 1.10, 1), 0)
    v.cancel(1, 1)
    assert kinds(v.advance(10 * MS)) == [("cancelled", 1, 0)]


def test_modify_reprices_and_loses_priority() -> None:
    b = Book()
    b.set("A", 1.00, 1.10)
    v = _venue(b)
    v.submit(child(1, +1, 1.00, 10, post_only=True), 0)
    v.advance(MS)
    v.modify(1, 1.10, 10, MS)  # PostOnly would cross: refused, old terms kept
    v.modify(1, 1.02, 6, 2 * MS)
    evs = v.advance(3 * MS)
    assert [e.kind for e in evs] == ["modify_rejected", "modified"]
    assert "cross" in evs[0].reason
    assert [(c.child.price, c.leaves) for c in v.live_children(1)] == [(1.02, 6)]
    v.modify(1, 1.02, 0, 3 * MS)
    assert kinds(v.advance(4 * MS)) == [("cancelled", 1, 0)]
    v.modify(1, 1.02, 5, 4 * MS)
    assert [e.kind for e in v.advance(5 * MS)] == ["modify_rejected"]


def test_marketable_modify_takes() -> None:
    b = Book()
    b.set("A", 1.00, 1.10, asz=4)
    v = _venue(b)
    v.submit(child(1, +1, 1.00, 10), 0)
    v.advance(MS)
    v.modify(1, 1.10, 10, MS)
    evs = v.advance(2 * MS)
    assert kinds(evs) == [("modified", 1, 0), ("fill", 1, 4)]
    assert evs[1].maker_taker == "Taker"


def test_halt_cancels_resting_children_and_rejects_new_ones() -> None:
    b = Book()
    b.set("A", 1.00, 1.10)
    v = _venue(b)
    v.submit(child(1, +1, 1.00, 10), 0)
    v.advance(MS)
    v.halt("A", MS)
    v.submit(child(2, +1, 1.00, 10), MS)
    evs = v.advance(2 * MS)
    assert [(e.kind, e.child_id, e.reason) for e in evs] == [
        ("cancelled", 1, "halted"), ("rejected", 2, "series halted")]
    v.resume("A", 2 * MS)
    v.submit(child(3, +1, 1.00, 10), 2 * MS)
    assert kinds(v.advance(3 * MS)) == [("ack", 3, 0)]


@pytest.mark.parametrize(("bad", "why"), [
    (child(1, 0, 1.0, 1), "side"), (child(1, 1, -1.0, 1), "price"), (child(1, 1, 1.0, 0), "size"),
    (child(1, 1, 1.0, 1, tif="GTC"), "tif"), (child(1, 1, 1.0, 1, exch="XXX"), "exch")])
def test_bad_children_are_rejected_naming_the_field(bad: ChildOrder, why: str) -> None:
    b = Book()
    b.set("A", 1.00, 1.10)
    v = _venue(b)
    v.submit(bad, 0)
    evs = v.advance(MS)
    assert [e.kind for e in evs] == ["rejected"] and why in evs[0].reason
    assert v.live_series() == set()


def test_duplicate_child_id_and_time_going_backwards() -> None:
    b = Book()
    b.set("A", 1.00, 1.10)
    v = _venue(b)
    v.submit(child(1, 1, 1.0, 1), 0)
    v.submit(child(1, 1, 1.0, 1), 0)
    assert [(e.kind, e.ts_ns) for e in v.advance(0)] == [("rejected", 0)]
    with pytest.raises(ValueError, match="backwards"):
        v.advance(-5)


def test_no_quote_means_no_take_and_the_child_rests() -> None:
    b = Book()
    v = _venue(b)
    v.submit(child(1, 1, 1.0, 3), 0)
    v.submit(child(2, 1, 1.0, 3, tif="IOC", series="B"), 0)
    assert kinds(v.advance(MS)) == [("ack", 1, 0), ("ack", 2, 0), ("expired", 2, 0)]
    assert v.live_series() == {"A"}


def test_partial_fills_are_split_into_seeded_pieces() -> None:
    b = Book()
    b.set("A", 1.00, 1.10, asz=50)
    v = SimVenue(b, VenueConfig(partial_fill_max_pieces=4), seed=11)
    sizes = []
    for i in range(20):
        b.set("A", 1.00, 1.10, asz=50)
        v.submit(child(i, 1, 1.10, 30, tif="IOC"), i * MS)
        fills = [e for e in v.advance(i * MS + LAT) if e.kind == "fill"]
        assert sum(f.qty for f in fills) == 30 and 1 <= len(fills) <= 4
        cum = [sum(f.qty for f in fills[:j + 1]) for j in range(len(fills))]
        assert [f.leaves for f in fills] == [30 - c for c in cum]
        sizes.append(len(fills))
    assert len(set(sizes)) > 1


def test_slippage_is_one_tick_and_never_beyond_the_child_price() -> None:
    b = Book()
    v = SimVenue(b, VenueConfig(prob_slippage=1.0), seed=3)
    b.set("A", 1.00, 1.10, asz=100)
    v.submit(child(1, 1, 1.20, 1, tif="IOC"), 0)
    v.submit(child(2, 1, 1.10, 1, tif="IOC"), 0)
    b.set("B", 3.10, 3.20, bsz=100)
    v.submit(child(3, -1, 3.00, 1, tif="IOC", series="B"), 0)
    fills = {e.child_id: e.price for e in v.advance(MS) if e.kind == "fill"}
    assert fills == {1: 1.11, 2: 1.10, 3: 3.05}


def test_consumed_size_stays_consumed_when_the_series_empties_and_refills() -> None:
    # found by the property test: the series had no child left between the two takers
    b = Book()
    b.set("A", 1.00, 1.10, asz=1)
    v = _venue(b)
    v.submit(child(1, +1, 1.10, 1, tif="IOC"), 0)
    v.advance(MS)
    v.submit(child(2, +1, 1.10, 1, tif="IOC"), MS)
    assert kinds(v.advance(2 * MS)) == [("ack", 2, 0), ("expired", 2, 0)]
