"""The journal: atomic batches, readable by a fresh process, and its WAL kept bounded by the
background checkpointer (or, when that thread is starved, by the committing thread)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from openmlink.srse import Journal


def _wal_pages(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return 0 if not wal.exists() else max(0, wal.stat().st_size - 32) // (4096 + 24)


def _batches(j: Journal, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        j.commit([("broker", f"{i:08X}", os.urandom(1500)), ("parent", f"{i:08X}", b"p")],
                 deletes=[("broker", f"{i - 10:08X}")] if i >= 10 else ())


def test_background_checkpoints_keep_the_wal_bounded_and_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    j = Journal(path, checkpoint_s=0.01)
    for k in range(20):
        _batches(j, 100, 100 * k)
        time.sleep(0.02)  # the checkpointer runs between bursts, never blocking a commit
    deadline = time.monotonic() + 30
    while j.checkpoints == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert j.checkpoints > 0
    # 2,000 commits of ~3 pages each: without checkpoints the WAL would hold ~6,000 pages;
    # with them it is reused from its start once checkpointed
    assert _wal_pages(path) < 3_000
    j.close()
    again = Journal(path)
    assert again.count("parent") == 2_000
    assert again.count("broker") == 10  # every older one deleted by a later batch
    assert sorted(k for k, _ in again.items("broker")) == [f"{i:08X}" for i in range(1990, 2000)]
    again.close()


def test_a_starved_checkpointer_cannot_let_the_wal_grow_without_bound(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    j = Journal(path, checkpoint_s=3600.0, wal_max_pages=200)  # the thread never gets to run
    _batches(j, 3_000)
    assert j.checkpoints > 0
    # checked every 256 commits: at most wal_max_pages plus 256 commits' pages past the bound
    assert _wal_pages(path) < 200 + 256 * 8
    j.close()
    again = Journal(path)
    assert again.count("parent") == 3_000
    again.close()


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


def test_without_the_checkpointer_sqlite_checkpoints_on_commit(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    j = Journal(path, checkpoint_s=0)
    _batches(j, 1_500)
    assert j.checkpoints == 0
    assert _wal_pages(path) < 1_000 + 16  # SQLite's own wal_autocheckpoint (1,000 pages)
    j.close()
