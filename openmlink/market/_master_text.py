"""A security master as JSON: what another process needs to build the same master.

The master is its definition (``underliers``, ``roots``, ``today``): the listed series are
derived from it (``SecurityMaster._build_series``), so a process that decodes the definition
builds a master equal to the sender's, series for series.  A distributed platform shares it
this way (``docs/scale-out.md``: the market process sends it, engine-only processes build
it), since the simulator's parameters (vol, skew, dividend schedule) are in no MLink record.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import date
from typing import Any

import orjson

from ._calendar import ExpiryCycle
from ._securities import OptionRoot, SecurityMaster, Underlier

__all__ = ["master_from_json", "master_to_json"]

#: the version of this encoding (a reader refuses another one)
VERSION = 1


def master_to_json(m: SecurityMaster) -> bytes:
    """The definition of ``m`` as JSON bytes."""
    return orjson.dumps({"version": VERSION, "today": m.today.isoformat(),
                         "underliers": [asdict(u) for u in m.underliers],
                         "roots": [asdict(r) for r in m.roots]})


def _make(cls: Any, d: dict[str, Any], what: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"security master: {what}: unknown field(s) {', '.join(unknown)}")
    # JSON arrays back to the tuples the dataclasses hold
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def master_from_json(data: bytes) -> SecurityMaster:
    """The master whose definition ``master_to_json`` wrote (``ValueError`` naming what is
    wrong in a definition this version cannot read)."""
    doc = orjson.loads(data)
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        raise ValueError(f"security master: version {doc.get('version') if isinstance(doc, dict) else None!r}"
                         f" is not {VERSION}")
    unds = tuple(_make(Underlier, u, f"underlier {u.get('symbol')}") for u in doc["underliers"])
    roots = []
    for r in doc["roots"]:
        cycle = _make(ExpiryCycle, r["cycle"], f"root {r.get('root')}.cycle")
        roots.append(_make(OptionRoot, {**r, "cycle": cycle}, f"root {r.get('root')}"))
    return SecurityMaster(unds, tuple(roots), date.fromisoformat(doc["today"]))
