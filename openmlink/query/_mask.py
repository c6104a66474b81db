"""Back end 2: a bound where tree -> a boolean mask over a columnar table.

Works on any object with ``column(name) -> ndarray`` (the first ``n`` rows), ``vocabs``
(string columns are dictionary-encoded) and ``n``; ``rows`` restricts evaluation to a subset
(streams filter only the rows that changed). String operators run once per vocabulary word
and are then gathered by code, so a scan costs one array pass per comparison.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Protocol

import numpy as np

from ._bind import BAnd, BNot, BOr, Bound, Leaf
from ._liveset import LiveSet

__all__ = ["ColumnSource", "compile_mask", "where_mask"]


class ColumnSource(Protocol):
    n: int
    vocabs: dict[str, Any]

    def column(self, name: str) -> np.ndarray: ...


def _col(src: ColumnSource, name: str, rows: np.ndarray | None) -> np.ndarray:
    c = src.column(name)
    return c if rows is None else c[rows]


def _word_test(words: np.ndarray, op: str, a: Any, b: Any) -> np.ndarray:
    """Evaluate a string comparison on each vocabulary word."""
    if op in ("sw", "ew", "cv", "nv"):
        lst = words.tolist()
        if op == "sw":
            return np.fromiter((w.startswith(a) for w in lst), bool, len(lst))
        if op == "ew":
            return np.fromiter((w.endswith(a) for w in lst), bool, len(lst))
        if op == "cv":
            return np.fromiter((a in w for w in lst), bool, len(lst))
        return np.fromiter((a not in w for w in lst), bool, len(lst))
    if op == "eq":
        return words == a
    if op == "ne":
        return words != a
    if op == "gt":
        return words > a
    if op == "ge":
        return words >= a
    if op == "lt":
        return words < a
    if op == "le":
        return words <= a
    if op == "cb":
        return (words >= a) & (words <= b)
    raise ValueError(op)  # pragma: no cover


def _num_test(x: np.ndarray, op: str, a: Any, b: Any) -> np.ndarray:
    if op == "eq":
        return x == a
    if op == "ne":
        return x != a
    if op == "gt":
        return x > a
    if op == "ge":
        return x >= a
    if op == "lt":
        return x < a
    if op == "le":
        return x <= a
    if op == "cb":
        return (x >= a) & (x <= b)
    if op == "in":
        if isinstance(a, LiveSet):  # members as they are now (they change after binding)
            return np.isin(x, a.array())
        return np.isin(x, _plan(("values", a), (), lambda _: _values(a)))
    raise ValueError(op)  # pragma: no cover


def _values(a: Any) -> np.ndarray:
    """The members of an ``in`` set as one sorted array (int64 unless some are not integers)."""
    vals = sorted(a)
    if all(isinstance(v, int) for v in vals):
        return np.array(vals, dtype=np.int64)
    return np.array(vals, dtype=np.float64)


#: prepared lookups of ``in``/``tuple`` leaves, by (leaf, vocabularies they read): a stream
#: filters its changed rows with the same leaf many times a second
_PLANS: OrderedDict[Any, _Plan] = OrderedDict()
_PLANS_MAX = 4096


class _Plan:
    """A prepared lookup, valid while none of the words it found missing from its
    vocabularies has been added (vocabularies only grow; a compaction makes a new one)."""

    __slots__ = ("lens", "missing", "value")

    def __init__(self, value: Any, vocabs: tuple[Any, ...], missing: list[set[str]]) -> None:
        self.value = value
        self.lens = [len(v.words) for v in vocabs]
        self.missing = missing

    def stale(self, vocabs: tuple[Any, ...]) -> bool:
        for i, v in enumerate(vocabs):
            if len(v.words) != self.lens[i]:
                if any(w in v.codes for w in self.missing[i]):
                    return True
                self.lens[i] = len(v.words)
        return False


def _plan(key: Any, vocabs: tuple[Any, ...], build: Any) -> Any:
    """``build(missing)`` once per key (``missing[i]``: the set to fill with the words not in
    ``vocabs[i]``), again only when one of those words appears."""
    full = (key, vocabs)
    plan = _PLANS.get(full)
    if plan is None or plan.stale(vocabs):
        missing: list[set[str]] = [set() for _ in vocabs]
        plan = _PLANS[full] = _Plan(build(missing), vocabs, missing)
        if len(_PLANS) > _PLANS_MAX:
            _PLANS.popitem(last=False)
    else:
        _PLANS.move_to_end(full)
    return plan.value


def _codes_in(vocab: Any, words: Any, missing: set[str]) -> np.ndarray:
    """The sorted vocabulary codes of ``words`` (a word not in the vocabulary matches no row
    and goes to ``missing``)."""
    codes = []
    for w in words:
        c = vocab.codes.get(w)
        if c is None:
            missing.add(w)
        else:
            codes.append(c)
    return np.array(sorted(codes), dtype=np.int64)


def _dense(uniq: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each ``x`` in the sorted ``uniq`` and whether it is there."""
    if len(uniq) == 0:
        return np.zeros(len(x), np.int64), np.zeros(len(x), bool)
    pos = np.minimum(np.searchsorted(uniq, x), len(uniq) - 1)
    return pos, uniq[pos] == x


def _tuple_plan(src: ColumnSource, lf: Leaf, missing: list[set[str]]
                ) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Per key member: (column, sorted values of the member in the tuples, sorted codes of
    the tuples' prefixes up to this member, re-ranked so that a code stays below the number of
    tuples). String members are looked up by vocabulary code; tuples naming a word the column
    has never held can match no row and are dropped."""
    keys = list(lf.a)
    ok = np.ones(len(keys), bool)
    comb = np.zeros(len(keys), np.int64)
    steps = []
    nv = 0
    for j, m in enumerate(lf.b):
        name = f"{lf.field}.{m}"
        vals = [k[j] for k in keys]
        vocab = src.vocabs.get(name)
        if vocab is not None:
            tv = np.fromiter((vocab.codes.get(v, -1) for v in vals), np.int64, len(vals))
            missing[nv].update(v for v, c in zip(vals, tv.tolist(), strict=True) if c < 0)
            nv += 1
            ok &= tv >= 0
        else:
            kind = src.column(name).dtype.kind
            tv = np.asarray(vals, dtype=np.int64 if kind in "iu" else np.float64)
        uniq = np.unique(tv[ok])
        tpos, tin = _dense(uniq, tv)
        ok &= tin
        comb = comb * max(len(uniq), 1) + tpos
        ranked = np.unique(comb[ok])
        comb = np.searchsorted(ranked, comb)
        steps.append((name, uniq, ranked))
    return steps


def _tuple_in(src: ColumnSource, lf: Leaf, rows: np.ndarray | None) -> np.ndarray:
    """Rows whose key members (``lf.b``) form one of the tuples of ``lf.a``: each member is
    looked up in the sorted values of that member, and the positions combined into one code
    per row, looked up among the tuples' codes after every member (no per-term mask, no
    per-row Python). Rows drop out of the work as soon as a member misses."""
    size = src.n if rows is None else len(rows)
    out = np.zeros(size, bool)
    if not lf.a or size == 0:
        return out
    vocabs = tuple(v for v in (src.vocabs.get(f"{lf.field}.{m}") for m in lf.b) if v is not None)
    steps = _plan(lf, vocabs, lambda missing: _tuple_plan(src, lf, missing))
    idx = np.arange(size)  # positions (into out) still possible
    sub = rows  # their table rows (None = the first n rows)
    code = np.zeros(size, np.int64)
    for name, uniq, ranked in steps:
        pos, hit = _dense(uniq, _col(src, name, sub))
        r, found = _dense(ranked, code * max(len(uniq), 1) + pos)
        keep = hit & found
        if not keep.all():
            idx, r = idx[keep], r[keep]
            if len(idx) == 0:
                return out
            sub = idx if rows is None else rows[idx]
        code = r
    out[idx] = True
    return out


def _keytext(src: ColumnSource, field: str, rows: np.ndarray | None) -> np.ndarray:
    """Flat key strings per row (slow path: only for sw/ew/cv/nv on a whole key)."""
    get = getattr(src, "_get", None)
    mt_field = src.mt.by_lower[field.lower()]  # type: ignore[attr-defined]
    idx = np.arange(src.n) if rows is None else rows
    out = np.empty(len(idx), dtype=object)
    for i, r in enumerate(idx.tolist()):
        k = get(r, mt_field) if get else None
        out[i] = "" if k is None else str(k)
    return out


def _leaf(src: ColumnSource, lf: Leaf, rows: np.ndarray | None) -> np.ndarray:
    if lf.vk == "tuple":
        return _tuple_in(src, lf, rows)
    if lf.vk == "keytext":
        return _word_test(_keytext(src, lf.field, rows), lf.op, lf.a, lf.b)
    x = _col(src, lf.column, rows)
    if lf.vk == "str":
        vocab = src.vocabs[lf.column]
        if lf.op == "in":
            return np.isin(x, _plan(lf, (vocab,), lambda missing: _codes_in(vocab, lf.a, missing[0])))
        return _word_test(vocab.array(), lf.op, lf.a, lf.b)[x]
    if lf.vk == "flag":
        if lf.op == "eq":
            return x == lf.a
        if lf.op == "ne":
            return x != lf.a
        if lf.op == "in":
            return np.isin(x, _plan(("values", lf.a), (), lambda _: _values(lf.a)))
        has = (x & lf.a) == lf.a
        return has if lf.op == "cv" else ~has
    return _num_test(x, lf.op, lf.a, lf.b)


def where_mask(src: ColumnSource, bound: Bound | None, rows: np.ndarray | None = None) -> np.ndarray:
    """Mask of the rows (all ``n`` rows, or ``rows``) that satisfy ``bound``."""
    size = src.n if rows is None else len(rows)
    if bound is None:
        return np.ones(size, bool)
    if isinstance(bound, Leaf):
        return _leaf(src, bound, rows)
    if isinstance(bound, BNot):
        return ~where_mask(src, bound.item, rows)
    it = iter(bound.items)
    acc = where_mask(src, next(it), rows)
    if isinstance(bound, BAnd):
        for b in it:
            hits = int(np.count_nonzero(acc))
            if hits == 0:
                break
            if hits * 8 < len(acc):
                # selective so far: evaluate the rest only on the rows still in
                idx = np.flatnonzero(acc)
                acc[idx] = where_mask(src, b, idx if rows is None else rows[idx])
            else:
                acc &= where_mask(src, b, rows)
    else:
        assert isinstance(bound, BOr)
        for b in it:
            acc |= where_mask(src, b, rows)
    return acc


def compile_mask(bound: Bound | None):  # type: ignore[no-untyped-def]
    """A reusable ``(src, rows=None) -> mask`` function for one bound clause."""
    def run(src: ColumnSource, rows: np.ndarray | None = None) -> np.ndarray:
        return where_mask(src, bound, rows)
    return run
