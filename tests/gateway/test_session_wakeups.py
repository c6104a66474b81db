"""A session's writer is woken by the first change after a send cycle, not by every change:
changes that arrive before the stream's or the subscription's next cycle is due wait for it
(the writer sleeps until ``next_due_ns``), and that cycle sends the latest state."""

from __future__ import annotations

import orjson

from tests.support.sansio import SansIO, records


def _rig() -> SansIO:
    r = SansIO()
    for tk in ("AAPL", "MSFT"):
        r.stock(tk, 100, 101)
    return r


def test_changes_before_a_stream_cycle_is_due_wake_the_writer_once():
    rig = _rig()
    c = rig.client()
    wakes = []
    c.session.notify = lambda: wakes.append(rig.clock.time_ns())
    c.send("MLinkStream", msgName="StockBookQuote", activeLatency=1000, where="ticker:eq:AAPL-NMS-EQT")
    assert len(records(c.pull(), "StockBookQuote")) == 1
    rig.stock("AAPL", 1, 2)
    assert len(wakes) == 1
    assert [m["bidPrice1"] for m in records(c.pull(), "StockBookQuote")] == [1]  # due at once
    t_sent = rig.clock.time_ns()
    for i in range(10):  # ten changes inside the next second
        rig.advance(50)
        rig.stock("AAPL", 10 + i, 11 + i)
        rig.stock("MSFT", 10 + i, 11 + i)  # not in the where clause: wakes the same way
        assert c.pull() == []  # not due yet
    assert len(wakes) == 2  # the first change after the cycle, then none
    assert c.session.next_due_ns() == t_sent + 1000 * 1_000_000  # the writer's sleep
    rig.advance(500)
    got = records(c.pull(), "StockBookQuote")
    assert [(m["pkey"]["ticker"]["tk"], m["bidPrice1"]) for m in got] == [("AAPL", 19)]
    rig.stock("AAPL", 50, 51)
    assert len(wakes) == 3  # after a cycle the next change wakes it again


def test_changes_before_a_subscription_cycle_is_due_wake_the_writer_once():
    rig = _rig()
    c = rig.client()
    wakes = []
    c.session.notify = lambda: wakes.append(rig.clock.time_ns())
    c.send("MLinkSubscribe", activeLatency=500,
           Subscribe=[{"msgName": "StockBookQuote", "msgPKey": "MSFT-NMS-EQT"}])
    assert len(records(c.pull(), "StockBookQuote")) == 1
    for i in range(8):
        rig.advance(20)
        rig.stock("MSFT", 20 + i, 21 + i)
        c.pull()
    assert len(wakes) <= 2
    rig.advance(500)
    got = records(c.pull(), "StockBookQuote")
    assert [m["bidPrice1"] for m in got] == [27]


def test_a_change_between_a_stream_request_and_the_end_of_its_snapshot_is_sent():
    """The wake of a change made after the request, before the snapshot is written, is
    spent on the pull that writes the snapshot: the stream's first cycle must still read it
    (a flash auction's one AuctionState made in that window was never streamed)."""
    rig = _rig()
    c = rig.client()
    c.send("MLinkStream", msgName="StockBookQuote", activeLatency=1)
    rig.stock("AAPL", 7, 8)  # after the request: not in its snapshot (taken at the request)
    rig.stock("TSLA", 9, 10)  # a new row, likewise
    got = records(c.pull(), "StockBookQuote")
    rig.advance(5)
    got += records(c.pull(), "StockBookQuote")
    last = {m["pkey"]["ticker"]["tk"]: m["bidPrice1"] for m in got}
    assert last == {"AAPL": 7, "MSFT": 100, "TSLA": 9}
    assert c.pull() == []  # nothing owed any more


def test_a_change_while_a_snapshot_is_written_in_several_pulls_is_sent():
    rig = _rig()
    for i in range(300):
        rig.stock(f"T{i:03d}", 1, 2)
    c = rig.client()
    c.send("MLinkStream", msgName="StockBookQuote", activeLatency=1)
    now = rig.clock.time_ns()
    frames = c.session.pull(now, max_frames=50)  # the snapshot's first part only
    rig.stock("AAPL", 7, 8)  # wakes the writer ...
    frames += c.session.pull(now, max_frames=50)  # ... whose next pull goes on with it
    got = records([orjson.loads(f) for f in frames], "StockBookQuote")
    got += records(c.pull(), "StockBookQuote")
    rig.advance(5)
    got += records(c.pull(), "StockBookQuote")
    assert [m["bidPrice1"] for m in got if m["pkey"]["ticker"]["tk"] == "AAPL"][-1] == 7
