"""Enum ordinals of the engine's output types, looked up once by name (no magic numbers)."""

from __future__ import annotations

import functools

from ...schema import registry

__all__ = ["ordinal"]


@functools.cache
def ordinal(msg: str, field: str, member: str) -> int:
    """``ordinal("LiveImpliedQuote", "calcErr", "InvalidSVol")`` (raises on a bad name)."""
    f = registry()[msg].field(field)
    if f is None or f.enum is None:
        raise KeyError(f"{msg}.{field} is not an enum field")
    i = f.enum.index(member)
    if i is None:
        raise KeyError(f"{member!r} is not a member of {f.enum.name}")
    return int(i)
