"""Records as text: an aligned table, CSV or JSON (the command line's output)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._records import flatten

__all__ = ["FORMATS", "cell", "columns_of", "render", "table"]

FORMATS = ("table", "csv", "json")
_WIDTH = 28


def cell(v: Any) -> str:
    """A value as a table or CSV cell: floats with up to 8 significant digits, lists and
    objects as compact JSON, missing values empty."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:.8g}"
    if isinstance(v, list | dict):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def columns_of(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every column of ``rows`` in first-seen order."""
    seen: dict[str, None] = {}
    for r in rows:
        for k in r:
            seen.setdefault(k, None)
    return list(seen)


def table(rows: Sequence[Mapping[str, Any]], cols: Sequence[str] | None = None,
          max_width: int = _WIDTH) -> str:
    """An aligned text table of flat rows (cells but the last column's cut at ``max_width``
    characters with '~'); numbers right-aligned."""
    cols = list(cols) if cols is not None else columns_of(rows)
    if not cols:
        return "(no records)"

    def cut(s: str) -> str:
        return s if len(s) <= max_width else s[: max_width - 1] + "~"

    last = len(cols) - 1
    texts = [[cell(r.get(c)) if i == last else cut(cell(r.get(c))) for i, c in enumerate(cols)]
             for r in rows]
    widths = [max([len(c)] + [len(t[i]) for t in texts]) for i, c in enumerate(cols)]
    numeric = [all(isinstance(r.get(c), int | float) and not isinstance(r.get(c), bool)
                   for r in rows if r.get(c) is not None) and any(r.get(c) is not None for r in rows)
               for c in cols]
    lines = ["  ".join(c.ljust(w) if not n else c.rjust(w) for c, w, n in zip(cols, widths, numeric,
                                                                             strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    for t in texts:
        lines.append("  ".join(s.rjust(w) if n else s.ljust(w)
                               for s, w, n in zip(t, widths, numeric, strict=True)).rstrip())
    return "\n".join(lines)


def render(records: Sequence[Mapping[str, Any]], fmt: str, *, flat: bool = True) -> str:
    """Records (message bodies) in ``fmt``: ``table`` and ``csv`` flatten them (``okey_tk`` ...),
    ``json`` prints them as the server sent them (a JSON array)."""
    if fmt == "json":
        return json.dumps(list(records), indent=1)
    rows = [flatten(r) for r in records] if flat else [dict(r) for r in records]
    if fmt == "table":
        return table(rows)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        cols = columns_of(rows)
        w.writerow(cols)
        for r in rows:
            w.writerow([cell(r.get(c)) for c in cols])
        return buf.getvalue().rstrip("\n")
    raise ValueError(f"format {fmt!r}: one of {', '.join(FORMATS)}")
