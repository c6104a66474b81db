"""The journal: atomic batches, readable by a fresh process, its WAL kept bounded."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from openmlink.srse import Journal, _checkpoint


def _wal_pages(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return 0 if not wal.exists() else max(0, wal.stat().st_size - 32) // (4096 + 24)


def _batches(j: Journal, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        j.commit([("broker", f"{i:08X}", os.urandom(1500)), ("parent", f"{i:08X}", b"p")],
                 deletes=[("broker", f"{i - 10:08X}")] if i >= 10 else ())


def test_a_commit_is_all_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    j = Journal(path)
    j.commit([("a", "1", b"x")])
    try:
        j.commit([("a", "2", b"y"), ("a", "3", None)])  # type: ignore[list-item]  # NOT NULL
    except Exception:
        pass
    else:
        raise AssertionError("a NULL body must fail the batch")
    assert dict(j.items("a")) == {"1": b"x"}
    j.close()


def test_commits_never_checkpoint_the_background_thread_does(tmp_path: Path) -> None:
    """A checkpoint inside a commit (SQLite's wal_autocheckpoint) fsyncs on the committing
    thread -- the event loop's; the journal's are run by its Checkpointer thread."""
    path = tmp_path / "j.sqlite3"
    j = Journal(path, checkpoint_s=3600)  # the thread will not run during the test
    _batches(j, 1_500)
    assert _wal_pages(path) > 1_200  # past SQLite's 1,000-page mark: no commit checkpointed
    assert j.checkpointer.checkpoints == 0
    j.close()


def _settle(j: Journal) -> None:
    """Wait for two checkpoints by the journal's thread (the loop's idle moments)."""
    n = j.checkpointer.checkpoints
    deadline = time.monotonic() + 30
    while j.checkpointer.checkpoints < n + 2 and time.monotonic() < deadline:
        time.sleep(0.01)


def test_the_wal_stays_bounded_and_a_fresh_process_reads_every_batch(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    j = Journal(path, checkpoint_s=0.02)
    _batches(j, 150)
    one_round = _wal_pages(path)
    _settle(j)
    for r in range(1, 10):
        _batches(j, 150, start=150 * r)
        _settle(j)
    # the WAL starts over after each complete checkpoint: one round's pages, not ten
    assert _wal_pages(path) <= 1.5 * one_round + 16
    again = Journal(path)  # j is not closed: as after a kill -9
    assert again.count("parent") == 1_500
    assert sorted(k for k, _ in again.items("broker")) == [f"{i:08X}" for i in range(1490, 1500)]
    again.close()
    j.close()


def test_the_writer_bounds_the_wal_when_the_checkpoint_thread_never_runs(tmp_path: Path) -> None:
    """On a loaded machine the checkpoint thread may not run for seconds (the WAL reached 68 MB
    in the test below, bounded at 24 MB, at load 22): past HARD_FACTOR x restart_bytes the
    writer checkpoints itself.  Here the thread's interval is an hour: it never runs."""
    from openmlink.srse._checkpoint import CHECK_EVERY, HARD_FACTOR

    path = tmp_path / "j.sqlite3"
    j = Journal(path, checkpoint_s=3600.0)
    j.checkpointer.restart_bytes = 256 * 1024
    peak = 0
    for r in range(20):
        _batches(j, 150, start=150 * r)  # ~2.5 MB of frames a round
        peak = max(peak, _wal_pages(path) * (4096 + 24))
    assert j.checkpointer.checkpoints == 0  # the thread never ran
    assert j.checkpointer.backstops > 0
    # the file grows at most CHECK_EVERY commits (2 pages each) past the hard cap
    assert peak < HARD_FACTOR * 256 * 1024 + CHECK_EVERY * 3 * (4096 + 24)
    again = Journal(path)
    assert again.count("parent") == 3_000
    again.close()
    j.close()


def test_the_wal_starts_over_while_the_writer_never_stops(tmp_path: Path) -> None:
    """A writer that commits all the time (the order journal, a commit per post) keeps adding
    frames while a PASSIVE checkpoint copies: the WAL was never found fully copied and grew
    without bound.  Above ``restart_bytes`` the checkpointer starts it over (TRUNCATE)."""
    path = tmp_path / "j.sqlite3"
    j = Journal(path, checkpoint_s=0.01)
    j.checkpointer.restart_bytes = 512 * 1024
    for r in range(40):
        _batches(j, 150, start=150 * r)  # ~2.5 MB of WAL frames a round, no idle moment
        time.sleep(0.002)  # (a commit every few ms leaves the lock free now and then)
    assert j.checkpointer.restarts > 0
    assert _wal_pages(path) * (4096 + 24) < 24 << 20  # 40 rounds wrote ~100 MB of frames
    again = Journal(path)
    assert again.count("parent") == 6_000
    again.close()
    j.close()


def _hold_write_lock(path: Path, seconds: float) -> threading.Thread:
    """Another connection holds the database's write lock for ``seconds`` (as a RESTART
    checkpoint does while it copies and syncs)."""
    ready = threading.Event()

    def hold() -> None:
        db = sqlite3.connect(str(path), isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        ready.set()
        time.sleep(seconds)
        db.execute("COMMIT")
        db.close()
    t = threading.Thread(target=hold)
    t.start()
    ready.wait()
    return t


def test_a_commit_waits_for_a_checkpoints_lock_as_long_as_it_is_held(tmp_path: Path) -> None:
    """The writer does not use SQLite's busy handler (sleeps of 1, 2, 5, 10, 15, 20, 25 ms...:
    a lock held 35 ms kept it waiting 53 ms): ``begin_write`` retries every 0.1 ms."""
    path = tmp_path / "j.sqlite3"
    j = Journal(path, checkpoint_s=3600)
    j.commit([("a", "0", b"x")])
    waits = []
    for k in range(5):
        t = _hold_write_lock(path, 0.035)
        t0 = time.perf_counter()
        j.commit([("a", f"{k + 1}", b"y")])
        waits.append(time.perf_counter() - t0)
        t.join()
    assert min(waits) >= 0.03  # it did wait for the lock
    assert min(waits) < 0.048  # and not for the busy handler's step after 33 ms (53 ms)
    assert Journal(path).count("a") == 6
    j.close()


def test_a_commit_gives_up_on_a_lock_held_for_ever(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "j.sqlite3"
    j = Journal(path, checkpoint_s=3600)
    monkeypatch.setattr(_checkpoint, "WRITE_WAIT_S", 0.05)
    t = _hold_write_lock(path, 0.3)
    try:
        j.commit([("a", "1", b"x")])
    except sqlite3.OperationalError as e:
        assert "locked" in str(e)
    else:
        raise AssertionError("a commit must fail once the wait is over")
    t.join()
    j.commit([("a", "1", b"x")])  # the connection is usable again
    assert j.count("a") == 1
    j.close()


def test_the_wal_restarts_in_place_under_a_writer_that_never_stops(tmp_path: Path) -> None:
    """Past ``restart_bytes`` of frames a RESTART checkpoint lets the writer start the WAL over
    from the file's beginning: the file stops growing, without being truncated (a TRUNCATE
    only past 4 x ``restart_bytes``)."""
    path = tmp_path / "j.sqlite3"
    j = Journal(path, checkpoint_s=0.01)
    j.checkpointer.restart_bytes = 2 << 20
    for r in range(30):
        _batches(j, 150, start=150 * r)  # ~2.5 MB of WAL frames a round
        time.sleep(0.02)  # (room for the checkpoint thread on a loaded machine)
    assert j.checkpointer.restarts > j.checkpointer.truncates
    assert _wal_pages(path) * (4096 + 24) < 40 << 20  # 30 rounds wrote ~75 MB of frames
    again = Journal(path)
    assert again.count("parent") == 4_500
    again.close()
    j.close()
