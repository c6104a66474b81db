"""Back end 1: a bound where tree -> a predicate over one internal record (``dict``).

Values are read in the column representation of ``_bind`` (enum ordinals, DateKey days, key
members split out), so this predicate and the column mask of ``_mask`` agree by construction;
``tests/query`` runs one table of clauses through both.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable
from typing import Any

from ..schema import DATEKEY_NONE, MsgType, datekey_from_text
from ._bind import BAnd, BNot, BOr, Bound, Leaf, key_member_enum

__all__ = ["Predicate", "compile_predicate", "record_value"]

Predicate = Callable[[dict[str, Any]], bool]

_CMP = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt,
    "ge": operator.ge, "lt": operator.lt, "le": operator.le,
}


@functools.lru_cache(maxsize=4096)
def _days(text: str) -> int:
    return datekey_from_text(text)


@functools.cache
def _member_index(member: str) -> dict[str, int]:
    return {n: i for i, n in enumerate(key_member_enum(member))}


def record_value(mt: MsgType, rec: dict[str, Any], field: str, member: str | None) -> Any:
    """The value of ``field`` (or of one key member) in column representation."""
    f = mt.by_lower[field.lower()]
    v = rec.get(f.name, f.default)
    if member is None:
        return v
    if v is None or member not in v._fields:
        return {"tk": "", "dt": DATEKEY_NONE, "xx": math.nan}.get(member, -1)
    x = getattr(v, member)
    if member == "dt":
        return _days(x)
    if member in ("at", "ts", "cp"):
        return _member_index(member)[x]
    return x


def _leaf(mt: MsgType, lf: Leaf) -> Predicate:
    field, member, op, a, b = lf.field, lf.member, lf.op, lf.a, lf.b
    if lf.vk == "tuple":
        def members(rec: dict[str, Any]) -> bool:
            return tuple(record_value(mt, rec, field, m) for m in b) in a
        return members
    if lf.vk == "keytext":
        def text(rec: dict[str, Any]) -> str:
            v = rec.get(field)
            return "" if v is None else str(v)
        get: Callable[[dict[str, Any]], Any] = text
    else:
        def get(rec: dict[str, Any]) -> Any:
            return record_value(mt, rec, field, member)
    if op in _CMP:
        fn = _CMP[op]
        if lf.vk == "flag":
            return lambda rec: fn(int(get(rec)), a)
        return lambda rec: bool(fn(get(rec), a))
    if op == "cb":
        return lambda rec: bool(a <= get(rec) <= b)
    if op == "in":
        return lambda rec: get(rec) in a
    if op == "sw":
        return lambda rec: get(rec).startswith(a)
    if op == "ew":
        return lambda rec: get(rec).endswith(a)
    if lf.vk == "flag":
        if op == "cv":
            return lambda rec: (int(get(rec)) & a) == a
        return lambda rec: (int(get(rec)) & a) != a
    if op == "cv":
        return lambda rec: a in get(rec)
    if op == "nv":
        return lambda rec: a not in get(rec)
    raise ValueError(op)  # pragma: no cover


def compile_predicate(mt: MsgType, bound: Bound | None) -> Predicate:
    """Compile once; call per record."""
    if bound is None:
        return lambda rec: True
    if isinstance(bound, Leaf):
        return _leaf(mt, bound)
    if isinstance(bound, BNot):
        inner = compile_predicate(mt, bound.item)
        return lambda rec: not inner(rec)
    parts = [compile_predicate(mt, b) for b in bound.items]
    if isinstance(bound, BAnd):
        return lambda rec: all(p(rec) for p in parts)
    assert isinstance(bound, BOr)
    return lambda rec: any(p(rec) for p in parts)
