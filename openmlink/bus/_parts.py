"""Engine partitions by underlier: which underliers an engine process computes.

An engine group (``implied``) splits the underliers into ``n`` partitions by a stable hash of
the underlier's name (``partition_of``: CRC-32 of its UTF-8 bytes, the same in every process
and every Python, unlike ``hash``).  A ``Partitions`` holds the partitions this process owns:
fixed (``openmlink serve --partition K/N``) or leased from the other members of the group
(``PartitionLeases``, a JetStream KV bucket, ``bus/_leases.py``).  Engines ask ``owns(name)``
or cache a mask keyed by ``version``, which bumps on every change of ownership.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable

__all__ = ["PARTITIONS", "Partitions", "parse_partition", "partition_of"]

#: partitions of a leased engine group (``--partition`` not given): enough for 16 members to
#: share them, few enough that a member renews every lease each heartbeat (inferred)
PARTITIONS = 16


def partition_of(name: str, n: int) -> int:
    """The partition (0..n-1) of underlier ``name`` among ``n``."""
    return zlib.crc32(name.encode()) % n


class Partitions:
    """The partitions (of ``n``) that this process owns.  ``leased``: they are assigned by
    ``PartitionLeases`` (start with none); else fixed at ``owned``."""

    def __init__(self, n: int, owned: Iterable[int] = (), *, leased: bool = False) -> None:
        if n < 1:
            raise ValueError(f"partitions: n must be >= 1, not {n}")
        self.n = n
        self.leased = leased
        self.owned: frozenset[int] = frozenset()
        self.version = 0
        self._listeners: list[Callable[[frozenset[int]], None]] = []
        self.set(owned)

    def owns(self, name: str) -> bool:
        """Whether underlier ``name`` is in a partition of this process."""
        return partition_of(name, self.n) in self.owned

    def set(self, owned: Iterable[int]) -> frozenset[int]:
        """Own exactly ``owned``; tells the listeners the partitions gained; returns them."""
        new = frozenset(owned)
        bad = sorted(k for k in new if not 0 <= k < self.n)
        if bad:
            raise ValueError(f"partitions {bad}: not in 0..{self.n - 1}")
        gained = new - self.owned
        if new != self.owned:
            self.owned = new
            self.version += 1
            for fn in self._listeners:
                fn(gained)
        return gained

    def on_gain(self, fn: Callable[[frozenset[int]], None]) -> None:
        """Call ``fn(gained partitions)`` whenever ownership changes."""
        self._listeners.append(fn)

    def describe(self) -> dict[str, object]:
        """For ``GET /health``."""
        return {"of": self.n, "owned": sorted(self.owned), "leased": self.leased}

    def __repr__(self) -> str:
        return f"Partitions({sorted(self.owned)} of {self.n}{', leased' if self.leased else ''})"


def parse_partition(text: str) -> Partitions:
    """``K/N`` (0 <= K < N): partition K of N, fixed; ``ValueError`` naming what is wrong."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if m is None:
        raise ValueError(f"--partition {text!r}: K/N, e.g. 0/2")
    k, n = int(m.group(1)), int(m.group(2))
    if not 0 <= k < n:
        raise ValueError(f"--partition {text!r}: K must be in 0..N-1")
    return Partitions(n, (k,))
