"""``view`` (field projection), ``order`` (sorting) and ``limit`` (spec 5.4-5.6)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..schema import MsgType
from ._bind import KEY_ORDER, QueryError, resolve_column
from ._mask import ColumnSource

__all__ = ["OrderTerm", "order_rows", "parse_limit", "parse_order", "parse_view"]


def parse_view(mt: MsgType, text: str | None) -> frozenset[str] | None:
    """``a|b|c`` (or commas) -> canonical field names; ``None`` = all fields.

    The pkey is always returned, whatever the view says.
    """
    if text is None or not text.strip():
        return None
    names = set()
    for part in text.replace(",", "|").split("|"):
        p = part.strip()
        if not p:
            continue
        f = mt.field(p)
        if f is None:
            raise QueryError(f"view: unknown field '{p}' for {mt.name}")
        names.add(f.name)
    return frozenset(names)


@dataclass(frozen=True, slots=True)
class OrderTerm:
    field: str
    member: str | None
    desc: bool
    abs: bool


def parse_order(mt: MsgType, text: str | None) -> list[OrderTerm]:
    """``(f1:DESC | f2:ASC:ABS)`` -> terms, primary first."""
    if text is None or not text.strip():
        return []
    t = text.strip()
    if t.startswith("(") and t.endswith(")"):
        t = t[1:-1]
    terms = []
    for part in t.split("|"):
        p = part.strip()
        if not p:
            raise QueryError(f"order: empty term in '{text}'")
        bits = [b.strip() for b in p.split(":")]
        if len(bits) < 2 or len(bits) > 3:
            raise QueryError(f"order: '{p}' is not of the form field:ASC|DESC[:ABS]")
        direction = bits[1].upper()
        if direction not in ("ASC", "DESC"):
            raise QueryError(f"order: '{bits[1]}' in '{p}' is not ASC or DESC")
        absolute = False
        if len(bits) == 3:
            if bits[2].upper() != "ABS":
                raise QueryError(f"order: '{bits[2]}' in '{p}' is not ABS")
            absolute = True
        f, member = resolve_column(mt, tuple(bits[0].split(".")), what="order field")
        terms.append(OrderTerm(f.name, member, direction == "DESC", absolute))
    return terms


def _rank(words: np.ndarray) -> np.ndarray:
    order = np.argsort(words.astype(str), kind="stable")
    rank = np.empty(len(words), np.int64)
    rank[order] = np.arange(len(words))
    return rank


def _sort_keys(src: ColumnSource, mt: MsgType, term: OrderTerm, rows: np.ndarray) -> list[np.ndarray]:
    f = mt.by_lower[term.field.lower()]
    if f.kind in ("TickerKey", "ExpiryKey", "OptionKey") and term.member in (None, "ticker", "expiry"):
        limit = {"ticker": 3, "expiry": 4}.get(term.member or "", 6)
        members = [m for m in KEY_ORDER[:limit] if f"{f.name}.{m}" in src.vocabs
                   or f"{f.name}.{m}" in getattr(src, "cols", {})]
        cols = [f"{f.name}.{m}" for m in members]
    else:
        cols = [f.name if term.member is None else f"{f.name}.{term.member}"]
    keys = []
    for c in cols:
        x = src.column(c)[rows]
        if c in src.vocabs:
            x = _rank(src.vocabs[c].array())[x]
        elif x.dtype == object:
            raise QueryError(f"order: field '{term.field}' cannot be sorted")
        x = x.astype(np.float64) if x.dtype.kind == "f" else x.astype(np.int64)
        if term.abs:
            x = np.abs(x)
        if term.desc:
            x = -x
        keys.append(x)
    return keys


def order_rows(src: ColumnSource, mt: MsgType, rows: np.ndarray, terms: list[OrderTerm]) -> np.ndarray:
    """Sort ``rows`` by the terms (stable; NaN last)."""
    if not terms or len(rows) < 2:
        return rows
    keys: list[np.ndarray] = []
    for t in terms:
        keys.extend(_sort_keys(src, mt, t, rows))
    # np.lexsort sorts by the last key first
    return rows[np.lexsort(tuple(reversed(keys)))]


def parse_limit(text: str | None, default: int, cap: int) -> int:
    if text is None or str(text).strip() == "":
        return min(default, cap)
    try:
        n = int(str(text).strip())
    except ValueError:
        raise QueryError(f"limit: '{text}' is not an integer") from None
    if n < 1:
        raise QueryError(f"limit: {n} must be at least 1")
    return min(n, cap)
