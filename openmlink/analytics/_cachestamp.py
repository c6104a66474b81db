"""Numba's on-disk cache checked against the kernels' sources as a whole.

Numba keys a cached function on its own source file (time stamp and size) only.  A kernel that
inlines or calls a kernel of another module (``_black`` calls ``_vmath``, ``_quote_rows`` calls
``_black``) keeps its old machine code after that other module changed -- after a ``git pull``
or an upgrade in place -- and silently computes with it.  ``purge_if_stale`` therefore keeps a
digest of every analytics source next to the cache files and, when it differs, removes this
package's cache files before any kernel is compiled or loaded (they are rebuilt on first use or
by ``python -m openmlink.analytics.warm``).  Runs when this module is imported, which
``openmlink.analytics`` does first.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

from . import _vmath

__all__ = ["STAMP_NAME", "cache_dir", "purge_if_stale", "sources_digest"]

STAMP_NAME = "openmlink-kernels.sha256"
_HERE = Path(__file__).resolve().parent


def sources_digest(package_dir: Path = _HERE) -> str:
    """SHA-256 over the names and contents of the package's ``.py`` files (sorted)."""
    h = hashlib.sha256()
    for path in sorted(package_dir.glob("*.py")):
        h.update(path.name.encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def cache_dir(dispatcher: Any) -> Path | None:
    """The directory Numba caches ``dispatcher`` (a ``cache=True`` kernel of this package) in, or
    None when this Numba does not say (its internals differ) or caching is off."""
    cache = getattr(dispatcher, "_cache", None)
    path = getattr(cache, "_cache_path", None)
    return Path(path) if isinstance(path, str) else None


def purge_if_stale(dispatcher: Any, package_dir: Path = _HERE) -> int:
    """Remove the cache files in ``dispatcher``'s cache directory when the stamp there differs
    from the sources' digest, then write the new stamp; returns the number of files removed.
    Cannot-write (a read-only install) is reported on stderr, never raised: Numba then
    compiles in memory only."""
    where = cache_dir(dispatcher)
    if where is None:
        return 0
    digest = sources_digest(package_dir)
    stamp = where / STAMP_NAME
    try:
        if stamp.read_text().strip() == digest:
            return 0
    except OSError:
        pass  # no stamp yet: a fresh cache, or one written before stamps existed
    removed = 0
    try:
        where.mkdir(parents=True, exist_ok=True)
        for path in where.iterdir():
            if path.suffix in (".nbi", ".nbc"):
                try:
                    path.unlink()
                    removed += 1
                except FileNotFoundError:
                    pass  # another process purged it first
        tmp = where / f"{STAMP_NAME}.{os.getpid()}"
        tmp.write_text(digest + "\n")
        tmp.replace(stamp)
    except OSError as e:
        print(f"openmlink.analytics: cannot refresh the Numba cache in {where}: {e}", file=sys.stderr)
    return removed


purge_if_stale(_vmath.exp_v)
