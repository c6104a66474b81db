"""The NATS bus against a real nats-server (JetStream): records and column batches published
in one process reach the tables of another, a process does not get its own messages back, a
process started later rebuilds its tables from JetStream, and the subject tokens and the
per-ticker split lose nothing."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from openmlink.bus import ColumnBatch, Event, NatsBus, split_by_ticker, split_rows, subject_token
from openmlink.schema import TickerKey, key_member_names, registry
from openmlink.store import Store
from tests.support.nats import NatsServer, nats_server
from tests.support.nats import run as _run
from tests.support.nats import until as _until

__all__ = ["nats_server"]

REG = registry()
ITEM = REG["TickerItemDef"]
QUOTE = REG["StockBookQuote"]


def _item(tk: str, firm: str, user: str = "alice") -> dict[str, Any]:
    return {"ticker": TickerKey("EQT", "NMS", tk), "basketNumber": 1, "userName": user,
            "clientFirm": firm}


def _key(tk: str) -> tuple[Any, ...]:
    return (TickerKey("EQT", "NMS", tk), 1, "alice")


def _quotes(tks: list[str], bid: float) -> ColumnBatch:
    n = len(tks)
    return ColumnBatch(QUOTE, {
        "ticker.at": np.full(n, key_member_names("at").index("EQT"), np.int16),
        "ticker.ts": np.full(n, key_member_names("ts").index("NMS"), np.int16),
        "ticker.tk": np.array(tks, dtype=object),
        "bidPrice1": np.arange(n, dtype=np.float64) + bid,
        "askPrice1": np.arange(n, dtype=np.float64) + bid + 0.05}, 7)


class _Proc:
    """One 'process': a NatsBus with a store attached first, and what its handlers saw."""

    def __init__(self, url: str) -> None:
        self.bus = NatsBus(url)
        self.store = Store(REG)
        self.store.attach(self.bus)
        self.seen: list[Any] = []
        self.bus.subscribe(None, self.seen.append)


def test_records_and_batches_reach_the_other_process_and_a_late_one(
        nats_server: NatsServer) -> None:
    async def main() -> None:
        a, b = _Proc(nats_server.url), _Proc(nats_server.url)
        await a.bus.connect()
        await b.bus.connect()
        a.bus.publish(Event(ITEM, "upsert", _item("AAPL", "F3"), 11, origin="alice"))
        a.bus.publish(Event(ITEM, "upsert", _item("MSFT", "F4"), 12, origin="alice"))
        a.bus.publish(_quotes(["SPY", "AAPL", "SPY", "IBM"], 100.0))
        await a.bus.flush()
        items, quotes = b.store.table(ITEM), b.store.table(QUOTE)
        await _until(lambda: len(items) == 2 and len(quotes) == 3, "B has A's records")
        rec = items.get(_key("AAPL"))
        assert rec is not None and rec["clientFirm"] == "F3"
        events = [m for m in b.seen if isinstance(m, Event)]
        assert {e.origin for e in events} == {"alice"}  # the poster travels with the record
        spy = quotes.get((TickerKey("EQT", "NMS", "SPY"),))
        assert spy is not None and spy["bidPrice1"] == 102.0  # the later SPY row wins
        # A never gets its own messages back: its handlers saw each publish once
        assert len(a.seen) == 3 and a.bus.stats.received == 0
        # a replace and a delete travel too
        b.bus.publish(Event(ITEM, "upsert", _item("AAPL", "F9"), 13))
        b.bus.publish(Event(ITEM, "delete", _item("MSFT", "F4"), 14))
        await b.bus.flush()
        a_items = a.store.table(ITEM)
        await _until(lambda: len(a_items) == 1, "A saw B's delete")
        assert a_items.get(_key("AAPL"))["clientFirm"] == "F9"
        await a.bus.close()
        await b.bus.close()
        # a process started now rebuilds the record tables from JetStream before connect returns
        c = _Proc(nats_server.url)
        await c.bus.connect()
        c_items = c.store.table(ITEM)
        assert len(c_items) == 1
        assert c_items.get(_key("AAPL"))["clientFirm"] == "F9"
        await c.bus.close()

    _run(main)


def test_a_late_process_gets_column_data_from_the_snapshots(nats_server: NatsServer) -> None:
    async def main() -> None:
        a = _Proc(nats_server.url)
        await a.bus.connect()
        a.bus.publish(_quotes(["SPY", "AAPL"], 100.0))
        a.bus.publish(_quotes(["SPY"], 150.0))
        assert a.bus.send_snapshots(a.store.ticker_batches) == 2
        assert a.bus.send_snapshots(a.store.ticker_batches) == 0  # nothing sent since
        await a.bus.flush()
        c = _Proc(nats_server.url)
        await c.bus.connect()
        quotes = c.store.table(QUOTE)
        assert len(quotes) == 2  # before connect returned
        assert quotes.get((TickerKey("EQT", "NMS", "SPY"),))["bidPrice1"] == 150.0
        assert quotes.get((TickerKey("EQT", "NMS", "AAPL"),))["askPrice1"] == 101.05
        # live updates after the snapshot apply; the next snapshot (same Oml-Seq) changes nothing
        a.bus.publish(_quotes(["SPY"], 200.0))
        await a.bus.flush()
        await _until(lambda: quotes.get((TickerKey("EQT", "NMS", "SPY"),))["bidPrice1"] == 200.0,
                     "C saw the live update")
        a.bus.send_snapshots(a.store.ticker_batches)
        await a.bus.flush()
        await _until(lambda: c.bus.stats.received >= 3, "C got the second snapshot")
        assert quotes.get((TickerKey("EQT", "NMS", "SPY"),))["bidPrice1"] == 200.0
        await a.bus.close()
        await c.bus.close()

    _run(main)


def test_the_next_snapshot_fills_what_a_joining_process_missed(nats_server: NatsServer) -> None:
    async def main() -> None:
        a = _Proc(nats_server.url)
        await a.bus.connect()
        spy = (TickerKey("EQT", "NMS", "SPY"),)
        a.bus.publish(_quotes(["SPY"], 100.0))
        a.bus.send_snapshots(a.store.ticker_batches)
        a.bus.publish(_quotes(["SPY"], 150.0))  # after the stored snapshot, before C joins
        await a.bus.flush()
        c = _Proc(nats_server.url)
        await c.bus.connect()
        quotes = c.store.table(QUOTE)
        assert quotes.get(spy)["bidPrice1"] == 100.0  # what JetStream had
        a.bus.publish(_quotes(["AAPL"], 7.0))  # live traffic goes on meanwhile
        a.bus.send_snapshots(a.store.ticker_batches)  # SPY was sent on since the last one
        await a.bus.flush()
        await _until(lambda: quotes.get(spy)["bidPrice1"] == 150.0, "C caught up on SPY")
        assert quotes.get((TickerKey("EQT", "NMS", "AAPL"),))["bidPrice1"] == 7.0
        # an older snapshot never overwrites a newer live value
        a.bus.publish(_quotes(["SPY"], 175.0))
        await a.bus.flush()
        await _until(lambda: quotes.get(spy)["bidPrice1"] == 175.0, "C has SPY 175")
        await a.bus.close()
        await c.bus.close()

    _run(main)


def test_validators_run_where_a_record_is_posted_not_where_it_arrives(
        nats_server: NatsServer) -> None:
    async def main() -> None:
        a, b = _Proc(nats_server.url), _Proc(nats_server.url)
        calls: list[str] = []
        b.bus.add_validator(ITEM.name, lambda m: calls.append("b"))
        await a.bus.connect()
        await b.bus.connect()
        a.bus.publish(Event(ITEM, "upsert", _item("AAPL", "F1"), 1))
        await a.bus.flush()
        await _until(lambda: len(b.store.table(ITEM)) == 1, "B has the record")
        assert calls == []
        await a.bus.close()
        await b.bus.close()

    _run(main)


@given(st.text(max_size=30))
def test_subject_tokens_are_safe_and_distinct(text: str) -> None:
    tok = subject_token(text)
    assert tok and not any(c in tok for c in ". *>\t\r\n")
    assert all(ord(c) < 128 for c in tok)
    assert _untoken(tok) == text  # so two texts never share a subject


def _untoken(tok: str) -> str:
    if tok == "%":
        return ""
    raw = re.sub(rb"%([0-9A-F]{2})", lambda m: bytes.fromhex(m.group(1).decode()), tok.encode())
    return raw.decode()


@given(st.lists(st.sampled_from(["SPY", "AAPL", "IBM", "A.B", ""]), min_size=1, max_size=40))
def test_split_by_ticker_keeps_every_row_once(tks: list[str]) -> None:
    batch = _quotes(tks, 10.0)
    parts = list(split_by_ticker(batch))
    assert sorted(tk for tk, _ in parts) == sorted(set(tks))
    rows = []
    for tk, part in parts:
        assert set(part.data["ticker.tk"].tolist()) == {tk}
        rows += list(zip(part.data["ticker.tk"].tolist(), part.data["bidPrice1"].tolist(),
                         strict=True))
    assert sorted(rows) == sorted(zip(tks, batch.data["bidPrice1"].tolist(), strict=True))


@given(st.integers(0, 300), st.integers(1, 4000))
def test_split_rows_cuts_in_order_below_the_size(rows: int, max_bytes: int) -> None:
    batch = _quotes([f"T{i % 7}" for i in range(rows)], 1.0)
    pieces = split_rows(batch, max_bytes)
    row_bytes = 2 + 2 + 8 + 8 + 8  # at, ts, tk (a string: 8), bid, ask
    for p in pieces:
        assert len(p.data["bidPrice1"]) <= max(1, max_bytes // row_bytes)
    for col in batch.data:
        joined = np.concatenate([p.data[col] for p in pieces]) if pieces else []
        assert list(joined) == list(batch.data[col])


def test_notes_reach_the_other_processes_in_order_with_the_records(
        nats_server: NatsServer) -> None:
    """A note (what no record carries: an auction's audience) sent before a record is handled
    before that record, live and by a process that joins later and replays JetStream; the
    sender does not get its own note back; a key with any characters comes back whole."""
    async def main() -> None:
        a, b = _Proc(nats_server.url), _Proc(nats_server.url)
        got: dict[str, list[tuple[str, Any]]] = {"a": [], "b": [], "c": []}

        def watch(p: _Proc, name: str) -> None:
            p.bus.on_note("audience", lambda k, d: got[name].append(("note", k, d)))
            p.bus.subscribe(ITEM.name, lambda m: got[name].append(("rec", m.rec["clientFirm"])))
        watch(a, "a")
        watch(b, "b")
        await a.bus.connect()
        await b.bus.connect()
        for i, key in enumerate(("7", "a.b *>é")):
            a.bus.publish_note("audience", key, f"rule {i}".encode())
            a.bus.publish(Event(ITEM, "upsert", _item(f"T{i}", f"F{i}"), i, origin="alice"))
        want = [("note", "7", b"rule 0"), ("rec", "F0"), ("note", "a.b *>é", b"rule 1"),
                ("rec", "F1")]
        await _until(lambda: len(got["b"]) == 4, "the notes and records at b")
        assert got["b"] == want
        assert got["a"] == [("rec", "F0"), ("rec", "F1")]  # its own notes: not delivered
        c = _Proc(nats_server.url)
        watch(c, "c")
        await c.bus.connect()  # replays JetStream: the notes first, as they were sent
        assert [g for g in got["c"] if g[0] == "note"] == [want[0], want[2]]
        assert got["c"].index(want[0]) < got["c"].index(want[1])
        assert got["c"].index(want[2]) < got["c"].index(want[3])
        for p in (a, b, c):
            await p.bus.close()
    _run(main)


def test_a_validator_registration_lasts_while_renewed_and_expires_after_its_engine_stops(
        nats_server: NatsServer) -> None:
    """An engine process's validators are registered in ``<P>_VALID`` and renewed: a gateway
    sends the posts of that type to it for as long as it runs (well past the TTL); once it
    stopped for good its registration goes stale after the TTL and the gateway no longer
    refuses the type as "no process running its engine" (a late joiner does not even see it)."""
    from openmlink.errors import PostRejected

    ttl = 3.0

    async def main() -> None:
        eng = NatsBus(nats_server.url, valid_ttl_s=ttl, name="engine")
        seen: list[str] = []

        def check(m: Any) -> None:
            seen.append(m.rec["clientFirm"])
            if m.rec["clientFirm"] == "BAD":
                raise PostRejected("clientFirm: BAD is refused")
        eng.add_validator(ITEM.name, check)
        gw = NatsBus(nats_server.url, valid_ttl_s=ttl, name="gateway")
        await eng.connect()
        await gw.connect()
        post = Event(ITEM, "upsert", _item("AAPL", "BAD"), 1, origin="alice")
        await _until(lambda: gw.validated_elsewhere(ITEM.name), "the registration at the gateway")
        await asyncio.sleep(2 * ttl)  # renewed meanwhile: still checked by the engine
        assert gw.validated_elsewhere(ITEM.name)
        try:
            await gw.validate_remote(post)
            raise AssertionError("the engine's validator did not refuse")
        except PostRejected as e:
            assert "BAD is refused" in e.detail
        assert seen == ["BAD"]
        await eng.close()  # stops for good: refused (no responder) until the TTL passes
        try:
            await gw.validate_remote(post)
            raise AssertionError("posted unchecked while its registration is live")
        except PostRejected as e:
            assert "no process running its engine" in e.detail
        await _until(lambda: not gw.validated_elsewhere(ITEM.name), "the registration expired",
                     timeout=ttl + 5)
        await gw.validate_remote(post)  # nothing to ask: accepted here (no validator anywhere)
        late = NatsBus(nats_server.url, valid_ttl_s=ttl, name="late")
        await late.connect()
        assert not late.validated_elsewhere(ITEM.name)
        for b in (gw, late):
            await b.close()
    _run(main)


def _prints(tks: list[str], price: float) -> ColumnBatch:
    n = len(tks)
    return ColumnBatch(REG["StockPrint"], {
        "ticker.at": np.full(n, key_member_names("at").index("EQT"), np.int16),
        "ticker.ts": np.full(n, key_member_names("ts").index("NMS"), np.int16),
        "ticker.tk": np.array(tks, dtype=object), "prtPrice": np.full(n, price)}, 7)


def test_a_process_receiving_only_some_types_gets_their_column_data_only(
        nats_server: NatsServer) -> None:
    """``receive_only`` (an implied-engine process): the live batches and the snapshots of
    the types named reach it, the other types' do not; records of every type do."""
    async def main() -> None:
        a = _Proc(nats_server.url)
        await a.bus.connect()
        a.bus.publish(_quotes(["SPY"], 100.0))
        a.bus.publish(_prints(["SPY"], 50.0))
        assert a.bus.send_snapshots(a.store.ticker_batches) == 2
        await a.bus.flush()
        e = _Proc(nats_server.url)
        e.bus.receive_only({QUOTE.name})
        await e.bus.connect()  # the snapshots: of the quotes only
        quotes, prints = e.store.table(QUOTE), e.store.table(REG["StockPrint"])
        assert len(quotes) == 1 and len(prints) == 0
        a.bus.publish(_prints(["AAPL"], 51.0))
        a.bus.publish(_quotes(["AAPL"], 120.0))
        a.bus.publish(Event(ITEM, "upsert", _item("AAPL", "F3"), 11, origin="alice"))
        await a.bus.flush()
        await _until(lambda: len(quotes) == 2 and len(e.store.table(ITEM)) == 1,
                     "the quote and the record")
        await asyncio.sleep(0.3)
        assert len(prints) == 0
        assert {type(m).__name__ + ":" + m.mt.name for m in e.seen} == {
            f"ColumnBatch:{QUOTE.name}", f"Event:{ITEM.name}"}
        for p in (a, e):
            await p.bus.close()
    _run(main)
