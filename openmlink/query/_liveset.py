"""A set of integers that an ``in`` leaf looks up and that changes after the leaf is bound.

A bound where tree is built once per reader (a stream keeps its bound for its whole life); a
rule that depends on facts learned later -- which auctions a client firm may see, decided as
each auction starts -- puts a ``LiveSet`` in an ``in`` leaf instead of a frozenset. The record
predicate tests membership and the column mask looks up ``array()``, so both back ends see
the members as they are at evaluation time.  Hashed by identity (a leaf holding it stays a
valid cache key); ``version`` moves on every change.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

__all__ = ["LiveSet"]


class LiveSet:
    """Integers (e.g. noticeNumbers) read by ``in`` leaves at evaluation time."""

    __slots__ = ("_arr", "_arr_version", "_members", "version")

    def __init__(self, members: Iterable[int] = ()) -> None:
        self._members: set[int] = {int(m) for m in members}
        self.version = 0
        self._arr = np.zeros(0, np.int64)
        self._arr_version = -1

    def add(self, member: int) -> None:
        m = int(member)
        if m not in self._members:
            self._members.add(m)
            self.version += 1

    def discard(self, member: int) -> None:
        m = int(member)
        if m in self._members:
            self._members.remove(m)
            self.version += 1

    def __contains__(self, member: object) -> bool:
        return member in self._members

    def __iter__(self) -> Iterator[int]:
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)

    def array(self) -> np.ndarray:
        """The members as a sorted int64 array (rebuilt only after a change)."""
        if self._arr_version != self.version:
            self._arr = np.array(sorted(self._members), dtype=np.int64)
            self._arr_version = self.version
        return self._arr

    def __repr__(self) -> str:
        return f"LiveSet({len(self._members)} members, version {self.version})"
