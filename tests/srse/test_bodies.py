"""What the record store and the History write is the record as stored, encoded once per bus
message: a whole record as posted, a merged one over the stored fields it lacks, each row a
column batch wrote; on the platform as ``serve`` builds it, every History type's last version
and every persisted order equal what the store holds."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson

from openmlink.bus import ColumnBatch, Event, InProcessBus
from openmlink.schema import decode_record, encode_message, pkey_of, pkey_text, registry
from openmlink.srse import TRADING_HISTORY, History, RecordStore
from openmlink.store import Store, Table
from tests.support.trading import TradingRig

REG = registry()
BS = REG["SpdrParentBrkrState"]
LIQ = REG["LiveImpliedQuote"]


def _platform(tmp_path: Path) -> tuple[InProcessBus, Store, History, RecordStore]:
    bus, store = InProcessBus(), Store(REG)
    store.attach(bus)
    rs = RecordStore(tmp_path / "srse.sqlite3")
    rs.attach(bus, store, [BS, LIQ])
    h = History(tmp_path / "h.sqlite3", REG)
    h.attach(bus, store, [BS, LIQ])
    return bus, store, h, rs


def _persisted(rs: RecordStore) -> dict[tuple[str, str], bytes]:
    return {(m, k): bytes(b) for m, k, b in rs._db.execute("SELECT msg, pkey, body FROM records")}


def test_merged_whole_and_batched_versions_are_the_stored_records(tmp_path: Path) -> None:
    bus, store, h, rs = _platform(tmp_path)
    pk = {"accnt": "A", "clientFirm": "F", "groupingCode": "0000-0000-0000-0007",
          "secKey": {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": "2025-07-18", "xx": 180,
                     "cp": "Put"}, "secType": "Option", "orderSide": "Buy"}
    whole = decode_record(BS, {**pk, "orderSize": 10, "cumFillQuantity": 2, "avgFillPrice": 1.5,
                               "spdrComment": "working"})
    bus.publish(Event(BS, "upsert", whole, 100))
    part = decode_record(BS, {**pk, "cumFillQuantity": 5})
    bus.publish(Event(BS, "upsert", part, 200, merge=True))
    bus.publish(Event(BS, "upsert", decode_record(BS, {**pk, "orderSize": 3}), 300))  # reset
    vs = h.versions(BS)
    assert [v.ts for v in vs] == [100, 200, 300]
    assert vs[0].rec["cumFillQuantity"] == 2 and vs[0].rec["spdrComment"] == "working"
    # the merge kept every field it did not carry
    assert vs[1].rec["cumFillQuantity"] == 5 and vs[1].rec["orderSize"] == 10
    assert vs[1].rec["avgFillPrice"] == 1.5 and vs[1].rec["spdrComment"] == "working"
    # a whole record replaces: the fields it lacks are back at their defaults
    assert vs[2].rec["orderSize"] == 3 and vs[2].rec.get("cumFillQuantity", 0) == 0
    assert vs[2].rec.get("spdrComment", "") == ""
    t = store.table(BS)
    stored = t.record(int(t.live_rows()[0]))
    assert encode_message(BS, vs[2].rec) == encode_message(BS, stored)
    (_, body), = _persisted(rs).items()
    assert body == orjson.dumps(encode_message(BS, stored))

    scratch = Table(LIQ)  # two quotes in the column form engines publish
    for k, vol in ((180, 0.25), (190, 0.3)):
        scratch.upsert(decode_record(LIQ, {"pkey": {"okey": f"AAPL-NMS-EQT-2025-07-18-{k}-P"},
                                           "sVol": vol}))
    bus.publish(ColumnBatch(LIQ, scratch.column_batch(scratch.live_rows()), 400))
    lv = h.versions(LIQ)
    assert [round(v.rec["sVol"], 6) for v in lv] == [0.25, 0.3] and {v.ts for v in lv} == {400}
    assert len([k for k in _persisted(rs) if k[0] == LIQ.name]) == 2
    h.close()
    rs.close()


def test_served_platform_history_and_record_store_match_the_store(tmp_path: Path) -> None:
    rig = TradingRig.served(tmp_path)
    rig.stock("AAPL", 199.9, 200.1)
    for k in range(5):
        rig.option("AAPL", 198 + k, "Put", 4.9, 5.1, asz=30)
    for i in range(10):  # some rest, some take (fills), one cancelled
        rig.order(groupingCode=f"0000-0000-0000-{i:04X}", xx=198 + i % 5,
                  orderPrcLimit=5.3 if i % 3 == 0 else 4.8,
                  secKey={"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": "2025-07-18",
                          "xx": 198 + i % 5, "cp": "Put"})
        rig.advance(20, 2)
    rig.advance(500, 10)
    plat = rig.platform
    assert plat.history is not None
    seen = 0
    for name in TRADING_HISTORY:
        mt = REG[name]
        t = rig.store.table(mt)
        last = {}
        for v in plat.history.versions(mt):
            last[pkey_of(mt, v.rec)] = v.rec
        for r in t.live_rows().tolist():
            rec = t.record(r)
            key = pkey_of(mt, rec)
            assert encode_message(mt, last[key]) == encode_message(mt, rec), (name, key)
            seen += 1
    assert seen >= 20
    assert rig.store.table(REG["SpdrParentExecution"]).count > 0  # fills were recorded too
    po = REG["SpdrParentOrder"]
    t = rig.store.table(po)
    rs = RecordStore(tmp_path / "srse.sqlite3")  # what a restart would load
    persisted = _persisted(rs)
    assert len(t) == 10
    for r in t.live_rows().tolist():
        rec = t.record(r)
        body = persisted[(po.name, pkey_text(po, pkey_of(po, rec)))]
        assert body == orjson.dumps(encode_message(po, rec))
    rs.close()
    plat.history.close()


def test_a_merge_shows_every_written_field_and_the_defaults_a_body_keeps(tmp_path: Path) -> None:
    """A merged record's body takes from the store only the fields some write gave a value
    (``Table.written``) and those whose default a body shows; whatever it skips is a default
    the encoder leaves out, so the body is the stored record's, however many shapes came
    before (the remembered field lists follow ``written`` as it grows)."""
    span = REG["SpanRiskCalculator"]  # defaults a body shows: calcPrecision, adjYears (-1.0)
    bus, store = InProcessBus(), Store(REG)
    store.attach(bus)
    h = History(tmp_path / "h.sqlite3", REG)
    h.attach(bus, store, [BS, span])
    pk = {"accnt": "A", "clientFirm": "F", "groupingCode": "0000-0000-0000-0007",
          "secKey": {"at": "EQT", "ts": "NMS", "tk": "AAPL", "dt": "2025-07-18", "xx": 180,
                     "cp": "Put"}, "secType": "Option", "orderSide": "Buy"}
    t = store.table(BS)
    for i, extra in enumerate(({}, {"spdrComment": "c"}, {}, {"avgFillPrice": 2.5}, {}, {})):
        rec = decode_record(BS, {**pk, "cumFillQuantity": i, **extra})
        bus.publish(Event(BS, "upsert", rec, 100 + i, merge=True))
        stored = t.record(int(t.live_rows()[0]))
        assert h.versions(BS)[-1].rec == decode_record(BS, encode_message(BS, stored))
    last = h.versions(BS)[-1].rec
    assert last["spdrComment"] == "c" and last["avgFillPrice"] == 2.5
    assert last["cumFillQuantity"] == 5
    other = decode_record(span, {"pkey": {"accnt": "A", "calcName": "x"}})
    bus.publish(Event(span, "upsert", other, 1, merge=True))
    body = encode_message(span, h.versions(span)[-1].rec)
    assert body["adjYears"] == -1.0 and body["calcPrecision"] == span.field("calcPrecision").enum.names[1]
    h.close()


def test_record_store_posts_never_checkpoint_its_thread_does(tmp_path: Path) -> None:
    """Each client post commits to the record store on the event loop; SQLite's own
    checkpoint (a copy and an fsync past 1,000 WAL pages) must not run inside one: the record
    store's Checkpointer thread runs them, and a fresh reader sees every record."""
    path = tmp_path / "srse.sqlite3"
    bus, store = InProcessBus(), Store(REG)
    store.attach(bus)
    rs = RecordStore(path, checkpoint_s=3600)  # its thread will not run for now
    rs.attach(bus, store, [LIQ])
    wal = path.with_name(path.name + "-wal")
    for i in range(1_500):
        rec = decode_record(LIQ, {"pkey": {"okey": f"AAPL-NMS-EQT-2025-07-18-{100 + i}-P"},
                                  "sVol": 0.2 + i * 1e-6, "ticker": "AAPL-NMS-EQT"})
        bus.publish(Event(LIQ, "upsert", rec, i))
    pages = (wal.stat().st_size - 32) // (4096 + 24)
    assert pages > 1_000 and rs.checkpointer.checkpoints == 0  # no commit checkpointed
    db = sqlite3.connect(str(path))
    rs.checkpointer.checkpoint(db)  # what its thread does every second
    db.close()
    again = RecordStore(path)  # rs not closed: as after a kill -9
    assert again.count(LIQ.name) == 1_500
    again.close()
    rs.close()


def test_record_store_writes_wait_for_a_checkpoints_lock(tmp_path: Path) -> None:
    """The record store's connection has no busy handler (a RESTART checkpoint holds the write
    lock for a few ms; ``srse.busy_retry`` waits it out): a single upsert, a column batch and a
    delete published while another connection holds the lock are all written."""
    import threading
    import time

    path = tmp_path / "srse.sqlite3"
    bus, store = InProcessBus(), Store(REG)
    store.attach(bus)
    rs = RecordStore(path, checkpoint_s=3600)
    rs.attach(bus, store, [LIQ])
    okeys = [f"AAPL-NMS-EQT-2025-07-18-{100 + i}-P" for i in range(3)]

    def held(publish: object) -> None:
        ready = threading.Event()

        def hold() -> None:
            db = sqlite3.connect(str(path), isolation_level=None)
            db.execute("BEGIN IMMEDIATE")
            ready.set()
            time.sleep(0.03)
            db.execute("COMMIT")
            db.close()
        t = threading.Thread(target=hold)
        t.start()
        ready.wait()
        publish()  # type: ignore[operator]
        t.join()

    recs = [decode_record(LIQ, {"pkey": {"okey": k}, "sVol": 0.2, "ticker": "AAPL-NMS-EQT"})
            for k in okeys]
    held(lambda: bus.publish(Event(LIQ, "upsert", recs[0], 1)))
    scratch = Table(LIQ)  # two quotes in the column form engines publish
    for rec in recs[1:]:
        scratch.upsert(rec)
    held(lambda: bus.publish(ColumnBatch(LIQ, scratch.column_batch(scratch.live_rows()), 2)))
    assert rs.count(LIQ.name) == 3
    held(lambda: bus.publish(Event(LIQ, "delete", recs[0], 3)))
    assert rs.count(LIQ.name) == 2
    rs.close()
