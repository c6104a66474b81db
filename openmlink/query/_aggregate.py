"""``getaggregate`` (spec 4.4): group terms, numeric and string measures, over table columns.

Group terms (the first four are used; further ones are reported as ignored):
``field``; ``field:top:N``; ``field:top:N:measureField:cnt|min|max|sum|avg``; ``field:Q:N``
(quantile buckets); ``field:RANGE:N`` (equal-width); ``timefield:TRANGE:N``;
``timefield:TIMEHIST:N#START#END``. Output: one ``AggregateCount`` per bucket, then per
measure an ``AggregateNumeric`` (numbers) or ``AggregateString`` (value histogram of text,
enum, key and time fields), and ``BucketRange`` rows for ranged groups. Returned as JSON
message bodies, ready for the envelope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..schema import DATEKEY_NONE, Field, MsgType, datekey_to_text, datetime_from_text, datetime_to_text
from ._bind import QueryError, resolve_column

__all__ = ["MAX_GROUP_TERMS", "aggregate"]

MAX_GROUP_TERMS = 4
_MEASURE_TYPES = ("cnt", "min", "max", "sum", "avg")
_NUMERIC = ("float", "int")


@dataclass
class _Group:
    codes: np.ndarray  # per selected row, bucket code
    labels: list[str]  # label per code
    ranges: list[tuple[str, str, int]] | None = None  # BucketRange rows (min, max, cnt)
    field: Field | None = None


def _labels(table: Any, f: Field, member: str | None, rows: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Per-row label codes and the label texts of a field (any kind)."""
    col = f.name if member is None else f"{f.name}.{member}"
    if f.kind in ("TickerKey", "ExpiryKey", "OptionKey") and member is None:
        cols = [c for c in table.cols if c.startswith(f.name + ".")]
        stacked = np.stack([table.column(c)[rows].astype(np.float64) for c in cols], axis=1)
        _, first, inv = np.unique(stacked, axis=0, return_index=True, return_inverse=True)
        labels = []
        for r in rows[first].tolist():
            k = table._get(r, f)
            labels.append("" if k is None else str(k))
        return inv.reshape(-1), labels
    x = table.column(col)[rows]
    if col in table.vocabs:
        uniq, inv = np.unique(x, return_inverse=True)
        words = table.vocabs[col].words
        return inv.reshape(-1), [words[c] for c in uniq.tolist()]
    uniq, inv = np.unique(x, return_inverse=True)
    if member in ("at", "ts", "cp"):
        from ..schema import key_member_names
        names = key_member_names(member)
        labels = [names[int(u)] if u >= 0 else "" for u in uniq.tolist()]
    elif member == "dt" or f.kind == "DateKey":
        labels = ["" if u == DATEKEY_NONE else datekey_to_text(int(u)) for u in uniq.tolist()]
    elif f.kind == "enum" and f.enum is not None:
        labels = [f.enum.names[int(u)] for u in uniq.tolist()]
    elif f.kind == "DateTime":
        labels = ["" if u == 0 else datetime_to_text(int(u)) for u in uniq.tolist()]
    elif f.kind == "float" or member == "xx":
        labels = [repr(float(u)) for u in uniq.tolist()]
    else:
        labels = [str(int(u)) for u in uniq.tolist()]
    return inv.reshape(-1), labels


def _fmt(f: Field, v: float) -> str:
    if f.kind == "DateTime":
        return datetime_to_text(int(v))
    return repr(float(v))


def _group(table: Any, mt: MsgType, term: str, rows: np.ndarray) -> tuple[_Group, np.ndarray]:
    """Bucket codes for one group term; also returns a keep-mask over ``rows``."""
    bits = [b.strip() for b in term.split(":")]
    f, member = resolve_column(mt, tuple(bits[0].split(".")), what="group field")
    keep = np.ones(len(rows), bool)
    if len(bits) == 1:
        codes, labels = _labels(table, f, member, rows)
        return _Group(codes, labels, field=f), keep
    kind = bits[1].upper()
    if kind == "TOP":
        if len(bits) not in (3, 5):
            raise QueryError(f"group: '{term}' is not field:top:N[:measureField:measureType]")
        n = _count(bits[2], term)
        codes, labels = _labels(table, f, member, rows)
        if len(bits) == 5:
            mf, mm = resolve_column(mt, tuple(bits[3].split(".")), what="group measure")
            mtyp = bits[4].lower()
            if mtyp not in _MEASURE_TYPES:
                raise QueryError(f"group: '{bits[4]}' in '{term}' is not one of {_MEASURE_TYPES}")
            if mf.kind not in _NUMERIC and mtyp != "cnt":
                raise QueryError(f"group: measure field '{bits[3]}' in '{term}' is not numeric")
            vals = table.column(mf.name if mm is None else f"{mf.name}.{mm}")[rows]
            score = _reduce(codes, len(labels), vals.astype(np.float64), mtyp)
        else:
            score = np.bincount(codes, minlength=len(labels)).astype(np.float64)
        score = np.where(np.isnan(score), -np.inf, score)
        top = np.argsort(-score, kind="stable")[:n]
        remap = np.full(len(labels), -1, np.int64)
        remap[top] = np.arange(len(top))
        keep = remap[codes] >= 0
        return _Group(remap[codes], [labels[i] for i in top.tolist()], field=f), keep
    if kind in ("Q", "RANGE", "TRANGE", "TIMEHIST"):
        if f.kind not in _NUMERIC and f.kind != "DateTime" and member != "xx":
            raise QueryError(f"group: '{term}' needs a numeric or time field")
        x = table.column(f.name if member is None else f"{f.name}.{member}")[rows].astype(np.float64)
        if kind == "TIMEHIST":
            spec = bits[2] if len(bits) > 2 else ""
            if len(bits) > 3:
                spec = ":".join(bits[2:])  # times contain ':'
            parts = spec.split("#")
            if len(parts) != 3:
                raise QueryError(f"group: '{term}' is not timefield:TIMEHIST:N#START#END")
            n = _count(parts[0], term)
            try:
                lo, hi = float(datetime_from_text(parts[1])), float(datetime_from_text(parts[2]))
            except ValueError as e:
                raise QueryError(f"group: '{term}': {e}") from None
        else:
            if len(bits) != 3:
                raise QueryError(f"group: '{term}' is not field:{bits[1]}:N")
            n = _count(bits[2], term)
            finite = x[np.isfinite(x)]
            lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 0.0)
        if kind == "Q":
            finite = x[np.isfinite(x)]
            edges = np.quantile(finite, np.linspace(0, 1, n + 1)) if len(finite) else np.zeros(n + 1)
        else:
            edges = np.linspace(lo, hi, n + 1)
        codes = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, n - 1)
        keep = np.isfinite(x) & (x >= edges[0]) & (x <= edges[-1])
        labels = [f"[{_fmt(f, edges[i])}, {_fmt(f, edges[i + 1])})" for i in range(n)]
        cnt = np.bincount(codes[keep], minlength=n)
        ranges = [(_fmt(f, edges[i]), _fmt(f, edges[i + 1]), int(cnt[i])) for i in range(n)]
        return _Group(codes, labels, ranges, field=f), keep
    raise QueryError(f"group: unknown term type '{bits[1]}' in '{term}' (top, Q, RANGE, TRANGE, TIMEHIST)")


def _count(text: str, term: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise QueryError(f"group: '{text}' in '{term}' is not a count") from None
    if not 1 <= n <= 10_000:
        raise QueryError(f"group: count {n} in '{term}' must be between 1 and 10000")
    return n


def _reduce(codes: np.ndarray, n: int, vals: np.ndarray, how: str) -> np.ndarray:
    ok = ~np.isnan(vals)
    c, v = codes[ok], vals[ok]
    cnt = np.bincount(c, minlength=n).astype(np.float64)
    if how == "cnt":
        return cnt
    s = np.bincount(c, weights=v, minlength=n)
    if how == "sum":
        return s
    if how == "avg":
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(cnt > 0, s / cnt, np.nan)
    out = np.full(n, np.nan)
    if len(c):
        order = np.lexsort((v, c))
        cs, vs = c[order], v[order]
        starts = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]])
        if how == "min":
            out[cs[starts]] = vs[starts]
        else:
            ends = np.r_[starts[1:], len(cs)] - 1
            out[cs[starts]] = vs[ends]
    return out


def aggregate(
    table: Any, mt: MsgType, rows: np.ndarray, measure: str, group: str | None
) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    """Run an aggregate over ``rows``; returns ((msgName, body) list, detail note)."""
    if not measure or not measure.strip():
        raise QueryError("measure: required ('|' list of fields)")
    measures: list[tuple[Field, str | None]] = []
    for m in measure.replace(",", "|").split("|"):
        if m.strip():
            measures.append(resolve_column(mt, tuple(m.strip().split(".")), what="measure field"))
    terms = [t.strip() for t in (group or "").split("|") if t.strip()]
    detail = ""
    if len(terms) > MAX_GROUP_TERMS:
        detail = (f"grouped by the first {MAX_GROUP_TERMS} terms; ignored: "
                  f"{'|'.join(terms[MAX_GROUP_TERMS:])}")
        terms = terms[:MAX_GROUP_TERMS]
    groups: list[_Group] = []
    keep = np.ones(len(rows), bool)
    for t in terms:
        g, k = _group(table, mt, t, rows)
        groups.append(g)
        keep &= k
    sel = rows[keep]
    if groups:
        stacked = np.stack([g.codes[keep] for g in groups], axis=1)
        if len(sel):
            uniq, inv = np.unique(stacked, axis=0, return_inverse=True)
        else:
            uniq, inv = np.zeros((0, len(groups)), np.int64), np.zeros(0, np.int64)
        inv = inv.reshape(-1)
    else:
        uniq, inv = np.zeros((1, 0), np.int64), np.zeros(len(sel), np.int64)
    nb = len(uniq)
    rec_count = np.bincount(inv, minlength=nb)
    keys = [
        {f"key{j + 1}": groups[j].labels[int(uniq[b, j])] for j in range(len(groups))}
        for b in range(nb)
    ]
    out: list[tuple[str, dict[str, Any]]] = []
    for j, g in enumerate(groups):
        if g.ranges is not None and g.field is not None:
            for lo, hi, n_in in g.ranges:
                out.append(("BucketRange", _clean({"name": g.field.name, "fNum": g.field.num,
                                                    "key": f"key{j + 1}", "min": lo, "max": hi,
                                                    "cnt": n_in})))
    for b in range(nb):
        out.append(("AggregateCount", _clean({**keys[b], "recCount": int(rec_count[b])})))
    for f, member in measures:
        col = f.name if member is None else f"{f.name}.{member}"
        name = col
        numeric = (f.kind in _NUMERIC and member is None) or member == "xx"
        if numeric:
            v = table.column(col)[sel].astype(np.float64)
            cnt = _reduce(inv, nb, v, "cnt")
            s = _reduce(inv, nb, v, "sum")
            mn = _reduce(inv, nb, v, "min")
            mx = _reduce(inv, nb, v, "max")
            for b in range(nb):
                c = int(cnt[b])
                out.append(("AggregateNumeric", _clean({
                    **keys[b], "name": name, "fNum": f.num, "recCount": int(rec_count[b]),
                    "cnt": c, "sum": float(s[b]), "avg": float(s[b] / c) if c else 0.0,
                    "min": float(mn[b]) if c else 0.0, "max": float(mx[b]) if c else 0.0,
                })))
        else:
            if f.kind == "Repeater":
                raise QueryError(f"measure: repeating group {f.name} cannot be aggregated")
            codes, labels = _labels(table, f, member, sel)
            pair = inv.astype(np.int64) * max(len(labels), 1) + codes
            up, cnts = np.unique(pair, return_counts=True)
            hist: dict[int, list[dict[str, Any]]] = {}
            for p, c in zip(up.tolist(), cnts.tolist(), strict=True):
                b, code = divmod(p, max(len(labels), 1))
                hist.setdefault(b, []).append({"value": labels[code], "cnt": int(c)})
            for b in range(nb):
                vals = sorted(hist.get(b, []), key=lambda d: -d["cnt"])
                out.append(("AggregateString", _clean({
                    **keys[b], "name": name, "fNum": f.num, "recCount": int(rec_count[b]),
                    "Value": [_clean(v) for v in vals],
                })))
    return out, detail


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    """Leave out default values, as every server output does."""
    return {k: v for k, v in d.items() if v not in ("", 0, 0.0, None, [])}
