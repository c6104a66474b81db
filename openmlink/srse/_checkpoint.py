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
commits all the time (the order journal: a commit per post, ~1,000/s) always adds frames while
it copies, so the WAL is never found fully copied and never starts over: it grew ~19 MB/s
without bound (measured: 174 MB after 9 s of a commit every ~1.5 ms, a checkpoint each second).
Once the file is above ``restart_bytes`` after a PASSIVE checkpoint, a TRUNCATE checkpoint
follows at once (what is left to copy is what came during the first), with a busy timeout of
0: when the writer is inside a commit it gives up at once (a PASSIVE one, in effect; the next
interval tries again); when it gets the lock the writer's next commit waits for it to copy
those few frames, sync and truncate the file.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from pathlib import Path
from typing import Any

__all__ = ["Checkpointer"]

log = logging.getLogger("openmlink.srse")


class Checkpointer:
    """Checkpoints the WAL of the database at ``path`` from a daemon thread; ``owner`` is the
    object whose lifetime bounds the thread's (it stops when ``stop`` is called or the owner
    is garbage)."""

    def __init__(self, path: Path, writer: sqlite3.Connection, owner: Any, *,
                 every_s: float = 1.0, restart_bytes: int = 64 << 20) -> None:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        self.path = path
        self.wal = Path(f"{path}-wal")
        self.every_s = every_s
        self.restart_bytes = restart_bytes
        self.checkpoints = 0
        self.restarts = 0  # TRUNCATE checkpoints that started the WAL over
        self.restart_tries = 20  # a writer that commits all the time is mostly inside a commit:
        # a TRUNCATE tried once found it busy nearly always under load (the WAL reached 50-80 MB
        # in the test's 100 MB of frames); tried every 0.5 ms for 10 ms it finds a gap
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

    def checkpoint(self, db: sqlite3.Connection) -> None:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.checkpoints += 1
        if self.wal_bytes() > self.restart_bytes:
            for _ in range(self.restart_tries):  # the writer between two commits: it gets in
                busy, _frames, _done = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if not busy:
                    self.restarts += 1
                    return
                if self._stop.wait(0.0005):
                    return

    def _run(self) -> None:
        db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=0")  # never wait for the writer (module docstring)
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
