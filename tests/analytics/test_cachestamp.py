"""The Numba cache of the analytics kernels is purged when any of their sources changed (Numba
itself only checks the file of the function it loads)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from openmlink.analytics import _cachestamp, _vmath


def test_sources_digest_follows_any_file(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 2\n")
    d0 = _cachestamp.sources_digest(tmp_path)
    (tmp_path / "b.py").write_text("y = 3\n")
    d1 = _cachestamp.sources_digest(tmp_path)
    (tmp_path / "c.py").write_text("")
    assert len({d0, d1, _cachestamp.sources_digest(tmp_path)}) == 3


class _Cache:
    def __init__(self, path: Path) -> None:
        self._cache_path = str(path)


class _Dispatcher:
    def __init__(self, path: Path) -> None:
        self._cache = _Cache(path)


def test_stale_cache_files_are_removed_once(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "k.py").write_text("def f(): pass\n")
    cache = tmp_path / "cache"
    cache.mkdir()
    for name in ("k.f-1.py311.nbi", "k.f-1.py311.1.nbc", "other.txt"):
        (cache / name).write_text("old")
    disp = _Dispatcher(cache)
    assert _cachestamp.purge_if_stale(disp, src) == 2  # no stamp: entries of unknown age go
    assert sorted(p.name for p in cache.iterdir()) == ["openmlink-kernels.sha256", "other.txt"]
    (cache / "k.f-1.py311.nbi").write_text("new")
    assert _cachestamp.purge_if_stale(disp, src) == 0  # same sources: the cache is kept
    (src / "k.py").write_text("def f(): return 1\n")
    assert _cachestamp.purge_if_stale(disp, src) == 1  # changed: purged again


def test_the_package_stamps_numbas_cache_dir(tmp_path: Path) -> None:
    """A fresh process with its own NUMBA_CACHE_DIR writes the stamp of the current sources
    where Numba keeps the analytics kernels, and a kernel compiled there is kept by the next
    process."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    code = ("from openmlink.analytics import _vmath, _cachestamp as c; print(c.cache_dir(_vmath.exp_v)); "
            "print(_vmath.exp_v(1.0))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    where = Path(out[0])
    assert where.is_relative_to(tmp_path)
    assert (where / _cachestamp.STAMP_NAME).read_text().strip() == _cachestamp.sources_digest()
    files = {p.name for p in where.iterdir() if p.suffix in (".nbi", ".nbc")}
    assert any(n.startswith("_vmath.exp_v") for n in files)
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    assert files <= {p.name for p in where.iterdir()}
    assert _cachestamp.cache_dir(_vmath.exp_v) is not None
