"""WAL checkpoints off the writer's thread.

A SQLite connection in WAL mode checkpoints by itself (``wal_autocheckpoint``, every 1,000
pages) inside the commit that crosses the mark: it copies the WAL into the database file and
fsyncs it, on the thread that committed -- the event loop's, for the order journal: a commit
of ~0.04 ms took 13-110 ms now and then (issue 11, paced PostAck p99).  ``Checkpointer``
turns that off for the writer's connection and runs PASSIVE checkpoints from a thread of its
own, with its own connection, every ``every_s`` (1 s; one with nothing new to copy does
nothing).  A PASSIVE checkpoint never blocks the writer (WAL mode lets it append meanwhile);
once one has copied every frame the writer's next transaction starts the WAL file over, so the
file stays within about what is written in one interval (SQLite's own default: 4 MB).
Durability is unchanged: a commit is in the WAL when it returns either way; the database
file is fsynced by the checkpoint, as before.

A PASSIVE checkpoint copies the frames that were in the WAL when it started; a writer that
commits all the time (the order journal: a commit per post, ~1,000/s, 16-20 MB of frames a
second) always adds frames while it copies, so the WAL is never found fully copied and never
starts over: it grew ~19 MB/s without bound (measured: 174 MB after 9 s of a commit every
~1.5 ms, a checkpoint each second).  No number of PASSIVE passes catches up: each syncs the WAL
and the database file (a few ms at least) and the writer commits every ~1 ms meanwhile.

So once more than ``restart_bytes`` (64 MiB) of frames were in the WAL, a second PASSIVE pass
copies what came during the first, then a RESTART checkpoint (busy timeout 0: tried between
two of the writer's commits, ``restart_tries`` times 0.5 ms apart) takes the write lock, copies
the frames of the last few ms, syncs the WAL and the database file, and lets the writer's next
transaction start the WAL over from the file's beginning: the file keeps its size and is
overwritten in place (one past 4 x ``restart_bytes``, after restarts that failed under load,
is truncated instead).  The writer waits while the lock is held: two fdatasyncs, 11-31 ms
measured on the development machine's disk (load 6), however few frames they sync -- hence
no restart at every interval (at 16 MiB: a 11-31 ms wait every second at 1,000 commits/s, 1-3%
of the posts delayed), one per 64 MiB of frames (every ~3.5 s at 1,000 commits/s).

It was a TRUNCATE above 64 MiB of file (issue 11): the copy of everything since the PASSIVE
started, the syncs and the truncation of a 64 MiB file (its blocks freed and discarded, then
allocated again as the WAL grew back) ran while the writer waited, and the writer's own busy
handler (sleeps of 1, 2, 5, 10, 15, 20, 25 ms...) overshot the wait: commits of 70-160 ms
every ~3.5 s at 1,000 commits/s (``bench/bench_journal_stalls.py``), ~100 posts delayed each
time, ~3% of them: over a p99.  The writer therefore does not use SQLite's busy handler: its
connection has a busy timeout of 0 and each write transaction starts with ``begin_write``
(BEGIN IMMEDIATE, retried every 0.1 ms while the checkpoint holds the lock), so it waits as
long as the lock is held and no longer (``busy_retry`` for a write in one statement).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["Checkpointer", "begin_write", "busy_retry"]

#: how long a writer waits for a checkpoint's lock before ``begin_write`` gives up (s): the
#: Python default busy timeout, which the writer connections no longer use
WRITE_WAIT_S = 5.0


def busy_retry(db: sqlite3.Connection, sql: str, params: Sequence[object] = ()) -> None:
    """Execute ``sql`` on ``db`` (a writer whose busy timeout is 0: ``Checkpointer``), again
    every 0.1 ms while a RESTART checkpoint holds the write lock (a few ms): a statement that
    starts a write transaction (``BEGIN IMMEDIATE``, an autocommit write); one refused for the
    lock did nothing.  ``sqlite3.OperationalError`` after ``WRITE_WAIT_S``."""
    deadline = 0.0
    while True:
        try:
            db.execute(sql, params)
            return
        except sqlite3.OperationalError as e:
            if getattr(e, "sqlite_errorcode", sqlite3.SQLITE_BUSY) != sqlite3.SQLITE_BUSY:
                raise
            now = time.monotonic()
            if not deadline:
                deadline = now + WRITE_WAIT_S
            elif now > deadline:
                raise
        time.sleep(0.0001)


def begin_write(db: sqlite3.Connection) -> None:
    """Start a write transaction on ``db``, waiting for a checkpoint's lock (``busy_retry``)."""
    busy_retry(db, "BEGIN IMMEDIATE")

log = logging.getLogger("openmlink.srse")

#: the writer checks the WAL file's size every CHECK_EVERY commits (``Checkpointer.after_commit``)
CHECK_EVERY = 64
#: past HARD_FACTOR x ``restart_bytes`` of WAL file the writer checkpoints itself (inferred:
#: twice the size at which the thread truncates)
HARD_FACTOR = 8


class Checkpointer:
    """Checkpoints the WAL of the database at ``path`` from a daemon thread; ``owner`` is the
    object whose lifetime bounds the thread's (it stops when ``stop`` is called or the owner
    is garbage).  ``writer``'s writes must go through ``busy_retry`` (``begin_write``)."""

    def __init__(self, path: Path, writer: sqlite3.Connection, owner: Any, *,
                 every_s: float = 1.0, restart_bytes: int = 64 << 20) -> None:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("PRAGMA busy_timeout=0")  # its writes go through busy_retry
        self.path = path
        self.wal = Path(f"{path}-wal")
        self.every_s = every_s
        self.restart_bytes = restart_bytes
        self.checkpoints = 0
        self.frame_bytes = 4096 + 24  # a WAL frame: a page and its header (the page size: _run)
        self.restarts = 0  # RESTART (TRUNCATE) checkpoints: the writer's next commit starts over
        self.truncates = 0  # of which TRUNCATE
        self.backstops = 0  # TRUNCATE checkpoints the writer ran itself (``after_commit``)
        self._unchecked = 0  # writes since ``after_commit`` last looked at the file's size
        self.restart_tries = 20  # a writer that commits all the time is mostly inside a commit:
        # a checkpoint that needs its lock, tried once, found it busy nearly always under load;
        # tried every 0.5 ms for 10 ms it finds a gap
        self._stop = threading.Event()
        self._owner = weakref.ref(owner)
        self._thread = threading.Thread(target=self._run, name=f"checkpoint:{path.name}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def wal_bytes(self) -> int:
        try:
            return os.stat(self.wal).st_size
        except FileNotFoundError:
            return 0

    def after_commit(self, writer: sqlite3.Connection) -> None:
        """The writer's backstop, called after each of its commits: the thread's checkpoints
        need CPU and a gap between two commits, neither of which a loaded machine guarantees
        (a WAL of 68 MB in a test bounded at 24 MB, load 22).  Every ``CHECK_EVERY`` commits the
        writer looks at the file; past ``HARD_FACTOR`` x ``restart_bytes`` it checkpoints
        (TRUNCATE) on its own connection, which nothing else writes meanwhile: the file's size
        is bounded whatever the scheduling, at the cost of one longer commit when the thread
        fell that far behind."""
        self._unchecked += 1
        if self._unchecked < CHECK_EVERY:
            return
        self._unchecked = 0
        if self.wal_bytes() <= HARD_FACTOR * self.restart_bytes:
            return
        deadline = time.monotonic() + 0.5
        while True:  # busy only while the thread's own checkpoint holds the lock
            busy, _frames, _copied = writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                self.backstops += 1
                return
            if time.monotonic() > deadline:
                log.warning("srse: the WAL of %s is %d bytes and its checkpoint stays busy",
                            self.path, self.wal_bytes())
                return
            time.sleep(0.0005)

    def checkpoint(self, db: sqlite3.Connection) -> None:
        _busy, frames, _copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.checkpoints += 1
        # a file grown past 4 x restart_bytes (restarts that failed under load, a burst) is
        # truncated at once: its disk space back, at the cost of a longer wait, now and then
        truncate = self.wal_bytes() > 4 * self.restart_bytes
        if not truncate:
            if frames * self.frame_bytes <= self.restart_bytes:
                return
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()  # what came during the first
        mode = "TRUNCATE" if truncate else "RESTART"
        for _ in range(self.restart_tries):  # the writer between two commits: it gets in
            busy, _frames, _copied = db.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            if not busy:
                self.restarts += 1
                self.truncates += truncate
                return
            if self._stop.wait(0.0005):
                return

    def _run(self) -> None:
        db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=0")  # never wait for the writer (module docstring)
        self.frame_bytes = int(db.execute("PRAGMA page_size").fetchone()[0]) + 24
        try:
            while not self._stop.wait(self.every_s):
                if self._owner() is None:
                    return
                try:
                    self.checkpoint(db)
                except sqlite3.Error as e:  # a busy database: the next interval tries again
                    log.warning("srse: WAL checkpoint of %s failed: %s", self.path, e)
        finally:
            db.close()
