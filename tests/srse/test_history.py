"""History appends share a transaction committed by a background thread: readers of the
same History see every append at once, another connection (a restarted process) within the
commit period, and close() commits what is pending."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from openmlink.schema import registry
from openmlink.srse import History

REG = registry()
ORDER = REG["SpdrParentOrder"]


def _rec(pn: int) -> dict:
    return {"parentNumber": pn, "accnt": "A", "clientFirm": "F", "orderSize": pn % 7 + 1}


def _committed(path: Path) -> int:
    db = sqlite3.connect(str(path))
    try:
        return int(db.execute("SELECT COUNT(*) FROM versions").fetchone()[0])
    finally:
        db.close()


def test_appends_are_read_at_once_and_committed_within_the_period(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    h = History(path, REG, commit_s=0.01)
    seqs = [h.append(ORDER, _rec(i), 1_000 + i) for i in range(1, 501)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 500
    vs = h.versions(ORDER)
    assert [v.rec["parentNumber"] for v in vs] == list(range(1, 501))
    assert vs[-1].rec["orderSize"] == 500 % 7 + 1
    deadline = time.monotonic() + 30
    while _committed(path) < 500 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _committed(path) == 500  # what a restart would read
    h.close()


def test_close_commits_the_pending_batch(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    h = History(path, REG, commit_s=3600.0)  # the thread never gets to commit
    for i in range(1, 11):
        h.append(ORDER, _rec(i), i)
    assert _committed(path) == 0
    h.close()
    again = History(path, REG)
    assert [v.rec["parentNumber"] for v in again.versions(ORDER)] == list(range(1, 11))
    again.close()


def test_without_batching_each_append_commits(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    h = History(path, REG, commit_s=0)
    h.append(ORDER, _rec(1), 1)
    assert _committed(path) == 1
    h.close()


def test_appends_waiting_for_a_late_committer_stay_bounded(tmp_path: Path) -> None:
    from openmlink.srse._history import PENDING_MAX

    h = History(tmp_path / "h.sqlite3", REG, commit_s=3600.0)  # the thread never gets to commit
    for i in range(1, 3 * PENDING_MAX):
        h.append(ORDER, _rec(i), i)
        assert len(h._pending) < PENDING_MAX
    assert h.count(ORDER) == 3 * PENDING_MAX - 1
    h.close()
    again = History(tmp_path / "h.sqlite3", REG)
    assert again.count(ORDER) == 3 * PENDING_MAX - 1
    seq = again.append(ORDER, _rec(1), 1)  # numbering goes on after a restart
    assert seq == 3 * PENDING_MAX and again.versions(ORDER)[-1].seq == seq
    again.close()


def test_appends_do_not_wait_for_a_commit_in_progress(tmp_path: Path) -> None:
    """The committer (or a reader) holding the database while it writes and commits (a slow
    disk, a checkpoint) does not stop the event loop's appends; once it is done they are all
    read back, in append order."""
    import threading

    h = History(tmp_path / "h.sqlite3", REG, commit_s=0.01)
    with h._db_lock:  # a commit that takes its time
        done = threading.Event()

        def append() -> None:
            for i in range(1, 101):
                h.append(ORDER, _rec(i), 1_000 + i)
            done.set()
        t = threading.Thread(target=append)
        t.start()
        assert done.wait(10), "appends waited for the database"
    t.join()
    assert [v.rec["parentNumber"] for v in h.versions(ORDER)] == list(range(1, 101))
    h.close()


def test_a_pending_batch_holds_no_more_heap_than_its_bodies(tmp_path: Path) -> None:
    """Versions wait in the pending batch (up to ``PENDING_MAX``) until the committer writes
    them: a body must not keep the 4 KiB buffer orjson (3.12 on) wrote it in (``fitted``;
    ~16 MiB of C heap for a full batch before) -- appended directly or from the bus."""
    from openmlink.bus import Event, InProcessBus
    from openmlink.gcpolicy import heap_info
    from openmlink.schema import decode_record
    from openmlink.store import Store

    if heap_info() is None:
        pytest.skip("glibc's mallinfo2 is not available")
    bus, store = InProcessBus(), Store(REG)
    store.attach(bus)
    h = History(tmp_path / "h.sqlite3", REG, commit_s=3600.0)  # the thread never gets to commit
    h.attach(bus, store, [ORDER])
    n = 1000
    recs = [decode_record(ORDER, {"parentNumber": i, "accnt": "A", "clientFirm": "F",
                                  "orderSize": i % 7 + 1}) for i in range(1, 2 * n + 1)]
    for r in recs:  # the store's rows made first (their growth is not the batch's)
        bus.publish(Event(ORDER, "upsert", r, 1))
    before = heap_info()["in_use"]  # type: ignore[index]
    for r in recs[:n]:
        h.append(ORDER, r, 2)
    for r in recs[n:]:
        bus.publish(Event(ORDER, "upsert", r, 3))
    grown = heap_info()["in_use"] - before  # type: ignore[index]
    bodies = [p[-1] for p in h._pending]
    assert len(bodies) == 4 * n and all(len(b) < 400 for b in bodies)
    assert grown / (2 * n) < 512, f"{grown / (2 * n):.0f} bytes of C heap per {len(bodies[0])}-byte body"
    h.close()
