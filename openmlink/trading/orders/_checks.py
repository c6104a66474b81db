"""Checks of §1.8 shared by option and stock orders (``_validate``, ``_stock``)."""

from __future__ import annotations

from typing import Any

from ...schema import MsgType


def enum_name(mt: MsgType, f: str, v: int) -> str:
    """The enum name of ``v`` in field ``f`` of ``mt`` (the number as text if out of range)."""
    e = mt.field(f).enum  # type: ignore[union-attr]
    assert e is not None
    return e.names[v] if 0 <= v < len(e.names) else str(v)


def shape_and_size(mt: MsgType, rec: dict[str, Any], sent: frozenset[str],
                   unit: str) -> tuple[str, str] | None:
    """parentShape Single, a positive orderSize (in ``unit``: contracts, shares) and an
    orderActiveSize within it; the (reason, text) of the first failure, else None."""
    shape = enum_name(mt, "parentShape", rec["parentShape"])
    if shape not in ("Single", "None"):
        return "ParentShape", f"parentShape: {shape} orders are not supported (Single only)"
    size = int(rec["orderSize"])
    if size <= 0:
        return "BadSize", f"orderSize: {size} must be a positive number of {unit}"
    active = int(rec["orderActiveSize"]) if "orderActiveSize" in sent else -1
    if active > size:
        return "BadSize", f"orderActiveSize: {active} exceeds orderSize {size}"
    if active < -1:
        return "BadSize", f"orderActiveSize: {active} (use -1 for all, 0 for none)"
    return None
