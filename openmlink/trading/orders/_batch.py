"""The re-pricing fast path's records: many brokers' SpdrParentBrkrState changes as one column
batch (``bus.ColumnBatch``: one store write, one notification, encoded once).

A *quiet* broker (``_slots.BrokerColumns.rest``) whose make price moved changes only its market
snapshot, its limit prices and its children's price; the batch carries the pkey columns and
exactly those columns, computed from the manager's arrays.  Every other column keeps its stored
value (a column batch merges), so the stored record equals what ``_records.state_record`` would
build for the broker.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...gcpolicy import bulk_done
from ...schema import KEY_MEMBERS, MsgType, datekey_from_text, key_member_names
from ._slots import MKT_NAMES

__all__ = ["StateBatch", "no_gc", "pk_cells", "pk_columns", "state_columns"]

_M = {k: i for i, k in enumerate(MKT_NAMES)}


@dataclass(frozen=True, slots=True)
class StateBatch:
    """State columns of many brokers, published as one ``ColumnBatch``."""

    data: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.data["timestamp"])


@contextlib.contextmanager
def no_gc(on: bool) -> Iterator[None]:
    """No cyclic-GC pass while a pass over thousands of brokers allocates its small objects (a
    pass would run every ~700 allocations, and now and then a full one scanning the whole
    heap: 100-200 ms with 10,000 working orders); one collection may follow the pass, or,
    under the process's GC policy, its survivors are frozen (``gcpolicy.bulk_done``)."""
    if not on or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        bulk_done()  # under the process's GC policy: its survivors frozen, not walked


def pk_cells(mt: MsgType, key: tuple[Any, ...]) -> dict[str, object]:
    """The store cells (column name -> value) of the pkey ``key`` of ``mt`` (strings and ticker
    members as ``str``, enums and key members as ordinals, expiries as DateKey days)."""
    out: dict[str, object] = {}
    for f, v in zip(mt.pkey_fields, key, strict=True):
        if f.kind in KEY_MEMBERS:
            out.update(pk_cells_of(f, v))
        elif f.kind == "string":
            out[f.name] = str(v)
        elif f.kind == "float":
            out[f.name] = float(v)
        else:
            out[f.name] = int(v)
    return out


def pk_columns(mt: MsgType, keys: list[tuple[Any, ...]]) -> dict[str, list[object]]:
    """``pk_cells`` of many pkeys as columns (name -> one value per key): a key member (an
    OptionKey shared by the brokers of one series) is converted once per distinct value."""
    memo: dict[tuple[str, Any], dict[str, object]] = {}
    out: dict[str, list[object]] = {}
    names: list[str] = []
    conv: list[Any] = []
    for f in mt.pkey_fields:
        if f.kind in KEY_MEMBERS:
            members = [f"{f.name}.{m}" for m in KEY_MEMBERS[f.kind]]
            names.extend(members)
            conv.append((f, members))
        else:
            names.append(f.name)
            conv.append((f, None))
    cols = {n: out.setdefault(n, []) for n in names}
    for key in keys:
        for (f, members), v in zip(conv, key, strict=True):
            if members is None:
                cols[f.name].append(str(v) if f.kind == "string" else float(v)
                                    if f.kind == "float" else int(v))
                continue
            got = memo.get((f.name, v))
            if got is None:
                got = memo[(f.name, v)] = pk_cells_of(f, v)
            for m in members:
                cols[m].append(got[m])
    return out


def pk_cells_of(f: Any, v: Any) -> dict[str, object]:
    """The store cells of one key-member field ``f`` holding ``v`` (a dict not to be
    changed: cached per series, as a tick's new orders share a few)."""
    return _member_cells(f.name, f.kind, v)


@functools.lru_cache(maxsize=1 << 16)
def _member_cells(name: str, kind: str, v: Any) -> dict[str, object]:
    out: dict[str, object] = {}
    for m in KEY_MEMBERS[kind]:
        x = getattr(v, m)
        if m == "tk":
            out[f"{name}.tk"] = str(x)
        elif m == "dt":
            out[f"{name}.dt"] = int(datekey_from_text(x))
        elif m == "xx":
            out[f"{name}.xx"] = float(x)
        else:
            out[f"{name}.{m}"] = int(key_member_names(m).index(x))
    return out


def _f(x: np.ndarray) -> np.ndarray:
    """``_records._f`` on arrays: NaN and infinities publish as 0."""
    return np.where(np.isfinite(x), x, 0.0)


def state_columns(pk: dict[str, np.ndarray], slots: np.ndarray, mkt: np.ndarray,
                  lims: np.ndarray, take_prob: np.ndarray, make_prob: np.ndarray,
                  make_px: np.ndarray, num_updates: np.ndarray, now: int) -> dict[str, np.ndarray]:
    """The columns of a re-priced quiet broker's state that change: ``mkt`` and ``lims`` are
    the rows of ``BrokerColumns.mkt`` / ``.lims`` of ``slots``; ``make_px`` the children's new
    price (every live child rests there: one ladder level)."""
    n = len(slots)
    col = {name: mkt[:, i] for name, i in _M.items()}
    pv = _f(col["point_value"])
    out = {name: a[slots] for name, a in pk.items()}
    out.update({
        "uPrc": _f(col["u_prc"]), "nbboBid": _f(col["bid"]), "nbboAsk": _f(col["ask"]),
        "nbboBidSz": _f(col["bid_size"]).astype(np.int64),
        "nbboAskSz": _f(col["ask_size"]).astype(np.int64),
        "surfacePrc": _f(col["s_prc"]), "surfaceVol": _f(col["s_vol"]),
        "cnVol": _f(col["s_vol"]), "cnYrs": _f(col["years"]), "cnUPrc": _f(col["u_prc"]),
        "cnDe": _f(col["de"]), "cnGa": _f(col["ga"]), "cnVe": _f(col["ve"]),
        "pointValue": pv, "underliersPerCn": pv.astype(np.int64),
        "limitPrice": _f(lims[:, 0]), "takeLimitPrice": _f(lims[:, 1]),
        "makeLimitPrice": _f(lims[:, 2]),
        "takeProbLimit": _f(take_prob), "makeProbLimit": _f(make_prob),
        "cpx1": np.round(make_px, 8), "numUpdates": num_updates.astype(np.int64),
        "updateDttm": np.full(n, now, np.int64), "timestamp": np.full(n, now, np.int64),
    })
    return out
