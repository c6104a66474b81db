"""The column-wise row encoder used for streams gives exactly the record encoder's JSON."""

from __future__ import annotations

import math
import random

import numpy as np
import orjson
import pytest

from openmlink.gateway._encode import RowEncoder, SlotBudget
from openmlink.gateway._frames import ENVELOPE, JSON, JSONF, jsonf_messages
from openmlink.schema import ExpiryKey, OptionKey, TickerKey, registry
from openmlink.schema._codec import encode_envelope
from openmlink.schema._values import DATEKEY_NONE
from openmlink.store import Table

REG = registry()


def _value(f, rng: random.Random):
    k = f.kind
    if rng.random() < 0.3:
        return f.default
    if k == "float":
        return rng.choice([0.0, -1.5, 3.25, 1e-12, 123456.789, math.nan, math.inf])
    if k == "int":
        ranges = {"byte": (0, 100), "ushort": (0, 60000), "uint": (0, 2**31)}
        lo, hi = ranges.get(f.int_type or "", (-10**9, 10**9))
        return rng.randint(lo, hi)
    if k == "string":
        return rng.choice(["", "abc", "T.MTL.VEN", "x y"])[: f.max_len or None]
    if k == "enum":
        return rng.randrange(len(f.enum.names))
    if k == "flag":
        return rng.choice([0, 1, 3, 64])
    if k == "DateTime":
        return rng.choice([0, 1_770_232_662_448_841_100, 946_684_800_000_000_000])
    if k == "DateKey":
        return rng.choice([DATEKEY_NONE, 0, 20000])
    if k == "TickerKey":
        return rng.choice([None, TickerKey("EQT", "NMS", "AAPL"), TickerKey("FUT", "CME", "@ES")])
    if k == "ExpiryKey":
        return rng.choice([None, ExpiryKey("EQT", "NMS", "SPY", "2025-05-16"),
                           TickerKey("EQT", "NMS", "SPY")])
    if k == "OptionKey":
        return rng.choice([None, OptionKey("EQT", "NMS", "CAKE", "2026-07-17", 62.5, "Call"),
                           OptionKey("EQT", "NMS", "SPX", "2024-03-15", 4550.0, "Put"),
                           TickerKey("EQT", "NMS", "AAPL")])
    if k == "Repeater":
        return tuple({g.name: _value(g, rng) for g in f.group.fields} for _ in range(rng.randrange(3)))
    raise AssertionError(k)


@pytest.mark.parametrize("name", ["AuctionState", "SpanRiskCalculator", "LiveImpliedQuote", "SpdrParentOrder",
                                  "OptionNbboQuote", "SpdrAutoHedgeState", "SymbolRiskSummaryV5"])
def test_column_encoder_matches_record_encoder(name):
    mt = REG[name]
    rng = random.Random(7)
    t = Table(mt)
    for i in range(60):
        rec = {f.name: _value(f, rng) for f in mt.fields}
        for f in mt.pkey_fields:  # distinct keys
            if f.kind == "OptionKey":
                rec[f.name] = OptionKey("EQT", "NMS", f"R{i}", "2026-01-16", float(i) + 0.5, "Put")
            elif f.kind in ("TickerKey", "ExpiryKey"):
                rec[f.name] = TickerKey("EQT", "NMS", f"R{i}")
            elif f.kind == "string":
                rec[f.name] = f"u{i}"
            elif f.kind == "int":
                rec[f.name] = i + 1
        t.upsert(rec)
    rows = t.live_rows()
    for view in (None, frozenset(f.name for f in mt.fields[::3])):
        enc = RowEncoder(mt, view)
        want = [encode_envelope(mt, t.record(r), view) for r in rows.tolist()]
        frames = enc.encode(t, rows)
        assert frames == want  # byte for byte: values, field order, escaping
        assert len(frames) == len(rows) and enc.encoded == len(rows)
        enc.encode(t, rows)  # served from the cache the second time
        assert enc.encoded == len(rows)
    assert isinstance(np.asarray(rows), np.ndarray)


def _quotes(n: int, tag: str) -> Table:
    mt = REG["StockBookQuote"]
    t = Table(mt)
    for i in range(n):
        t.upsert({"ticker": TickerKey("EQT", "NMS", f"{tag}{i}"), "bidPrice1": 1.0 + i,
                  "askPrice1": 0.1 + 0.2})
    return t


def test_framed_forms_carry_the_same_envelopes_and_follow_changes():
    mt = REG["StockBookQuote"]
    t = _quotes(50, "F")
    rows = t.live_rows()
    enc = RowEncoder(mt, None)
    envs = enc.encode(t, rows)
    assert orjson.loads(envs[0])["message"]["askPrice1"] == 0.3  # float field: single precision
    units, sizes = enc.encode_wire(t, rows, JSONF)
    got = [p for u in units.tolist() for _, p in jsonf_messages(u)]
    nums = {n for u in units.tolist() for n, _ in jsonf_messages(u)}
    assert got == envs and nums == {mt.id} and sizes.tolist() == [len(e) for e in envs]
    json_units, _ = enc.encode_wire(t, rows, JSON)
    assert [u[2:] if u[1] < 126 else u[4:] for u in json_units.tolist()] == envs
    assert all(u[0] == 0x81 for u in json_units.tolist())
    # a change re-encodes that row only, in every framing
    before = enc.encoded
    t.upsert({"ticker": TickerKey("EQT", "NMS", "F3"), "bidPrice1": 99.5})
    units, _ = enc.encode_wire(t, rows, JSONF)
    assert enc.encoded == before + 1
    (_, p3), = jsonf_messages(units[3])
    assert orjson.loads(p3)["message"]["bidPrice1"] == 99.5
    assert enc.encode_wire(t, rows, ENVELOPE)[0][3] == p3


def test_cache_slots_stay_within_the_budget_and_answers_stay_right():
    mt = REG["StockBookQuote"]
    budget = SlotBudget(5000)
    tables = [_quotes(1500, f"B{k}") for k in range(4)]
    encs = [RowEncoder(mt, None, budget=budget) for _ in tables]
    for _ in range(2):
        for enc, t in zip(encs, tables, strict=True):
            rows = t.live_rows()
            envs = enc.encode(t, rows)
            assert [orjson.loads(e)["message"]["pkey"]["ticker"]["tk"] for e in envs] == \
                [f"{t.record(r)['ticker'].tk}" for r in rows.tolist()]
            assert budget.used <= budget.limit
    # four 1,500-row tables do not fit 5,000 slots: caches were dropped and rebuilt
    assert sum(e.encoded for e in encs) > 4 * 1500


def test_a_cache_cleared_to_make_room_still_answers_the_rows_that_were_hits():
    """Found by the soak (a writer failed joining a None): rows cached before a call that
    clears the full cache must come back as bytes, not as the cleared slots."""
    mt = REG["StockBookQuote"]
    t = _quotes(120, "C")
    rows = t.live_rows()
    enc = RowEncoder(mt, None, max_cached=50)
    enc.encode_wire(t, rows[:40], JSONF)  # 40 cached
    units, sizes = enc.encode_wire(t, rows[:60], JSONF)  # 40 hits + 20 misses > 50: cleared
    assert all(isinstance(u, bytes) and u for u in units.tolist())
    assert [p for u in units.tolist() for _, p in jsonf_messages(u)] == \
        [encode_envelope(mt, t.record(r)) for r in rows[:60].tolist()]
    assert sizes.tolist() == [len(encode_envelope(mt, t.record(r))) for r in rows[:60].tolist()]


def test_a_scan_bigger_than_the_cache_reads_it_but_leaves_the_live_rows_cached():
    mt = REG["StockBookQuote"]
    t = _quotes(300, "R")
    rows = t.live_rows()
    enc = RowEncoder(mt, None, max_cached=50)
    hot = rows[:10]
    want_hot = enc.encode_wire(t, hot, JSONF)[0].tolist()
    assert enc.encoded == 10
    units, sizes = enc.encode_wire(t, rows, JSONF, keep=False)
    assert enc.encoded == 10 + 290  # the 10 cached rows were read from the cache
    assert units.tolist()[:10] == want_hot
    assert [p for u in units.tolist() for _, p in jsonf_messages(u)] == \
        [encode_envelope(mt, t.record(r)) for r in rows.tolist()]
    assert sizes.tolist() == [len(encode_envelope(mt, t.record(r))) for r in rows.tolist()]
    enc.encode_wire(t, hot, JSONF)
    assert enc.encoded == 300  # still cached


def test_a_big_snapshot_does_not_evict_what_other_streams_read():
    from openmlink.gateway import SessionConfig
    from openmlink.gateway._encode import EncoderCache
    from tests.support.sansio import SansIO, records

    rig = SansIO(SessionConfig(chunk_rows=20))
    rig.hub.encoders = EncoderCache(max_cached=50)
    for i in range(200):
        rig.stock(f"S{i:04d}", 1.0 + i, 2.0 + i)
    a = rig.client()
    a.send("MLinkStream", msgName="StockBookQuote", where="ticker.tk:eq:S0000")
    assert [m["pkey"]["ticker"]["tk"] for m in records(a.pull(), "StockBookQuote")] == ["S0000"]
    enc = rig.hub.encoders.get(REG["StockBookQuote"], None)
    assert enc.encoded == 1
    b = rig.client()
    b.send("MLinkStream", msgName="StockBookQuote")
    got = records(b.pull(), "StockBookQuote")
    assert sorted(m["pkey"]["ticker"]["tk"] for m in got) == [f"S{i:04d}" for i in range(200)]
    assert enc.encoded == 200  # S0000 came from the cache
    c = rig.client()
    c.send("MLinkStream", msgName="StockBookQuote", where="ticker.tk:eq:S0000")
    assert len(records(c.pull(), "StockBookQuote")) == 1
    assert enc.encoded == 200  # the 200-row snapshot, 4x the cache, did not evict it


def test_re_encoding_the_same_rows_never_clears_the_cache():
    """A busy table's rows change all day: re-encoding a cached row replaces its bytes and does
    not count toward ``max_cached`` (it did: the whole cache was cleared every ``max_cached``
    updates and refilled)."""
    mt = REG["StockBookQuote"]
    t = _quotes(40, "H")
    rows = t.live_rows()
    enc = RowEncoder(mt, None, max_cached=50)
    enc.encode_wire(t, rows, JSONF)
    rng = np.random.default_rng(5)
    for i in range(200):  # 200 cycles of 5 changed rows: 1,000 re-encodes, 20x the cache
        changed = np.sort(rng.choice(rows, 5, replace=False))
        for r in changed.tolist():
            t.upsert({"ticker": t.record(r)["ticker"], "bidPrice1": float(i)})
        before = enc.encoded
        units, _ = enc.encode_wire(t, rows, JSONF)
        assert enc.encoded == before + 5  # only the changed rows; the 35 others were hits
        c = enc._caches[JSONF]
        assert c.count == c.filled() == 40
    assert [p for u in units.tolist() for _, p in jsonf_messages(u)] == \
        [encode_envelope(mt, t.record(r)) for r in rows.tolist()]


def test_the_cache_stays_at_its_cap_under_churn_of_new_rows():
    """Rows beyond ``max_cached`` (a table growing, streams reading new rows): the filled slots
    never exceed the cap, and every answer stays right."""
    mt = REG["StockBookQuote"]
    t = _quotes(400, "G")
    rows = t.live_rows()
    enc = RowEncoder(mt, None, max_cached=50)
    rng = np.random.default_rng(9)
    for _ in range(100):
        pick = np.sort(rng.choice(rows, rng.integers(1, 30), replace=False))
        units, _ = enc.encode_wire(t, pick, JSON)
        c = enc._caches[JSON]
        assert c.count == c.filled() <= 50
        assert [u[2:] if u[1] < 126 else u[4:] for u in units.tolist()] == \
            [encode_envelope(mt, t.record(r)) for r in pick.tolist()]


@pytest.mark.parametrize("name", ["SpanRiskCalculator", "SpdrParentBrkrState", "SpdrParentOrder"])
def test_rows_of_partly_written_tables_encode_as_their_whole_records(name):
    """The row-by-row path reads only the fields some write gave a value (and those whose
    default a body shows, SpanRiskCalculator's -1.0 and enum defaults): the envelopes equal
    the whole records' as fields start being written between two encodes."""
    from openmlink.gateway._encode import SMALL_ROWS

    mt = REG[name]
    rng = random.Random(11)
    t = Table(mt)
    data = [f for f in mt.fields if not f.is_pkey]
    for view in (None, frozenset(f.name for f in mt.fields[::4])):
        enc = RowEncoder(mt, view)
        for step in range(6):
            chosen = rng.sample(data, min(len(data), 2 + 3 * step))  # more fields each step
            for i in range(3):
                rec = {f.name: _value(f, rng) for f in chosen}
                for f in mt.pkey_fields:
                    if f.kind == "OptionKey":
                        rec[f.name] = OptionKey("EQT", "NMS", f"R{i}", "2026-01-16", 1.5, "Put")
                    elif f.kind in ("TickerKey", "ExpiryKey"):
                        rec[f.name] = TickerKey("EQT", "NMS", f"R{i}")
                    elif f.kind == "string":
                        rec[f.name] = f"u{i}"
                    elif f.kind == "int":
                        rec[f.name] = i + 1
                t.upsert(rec, merge=True)
            rows = t.live_rows()
            assert len(rows) <= SMALL_ROWS
            want = [encode_envelope(mt, t.record(r), view) for r in rows.tolist()]
            assert enc.encode(t, rows) == want
            for r, w in zip(rows.tolist(), want, strict=True):
                assert orjson.dumps({"header": {"mTyp": mt.name}, "message": enc.body(t, r)}) == w
