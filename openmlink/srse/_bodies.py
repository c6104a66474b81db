"""The stored records a bus message left in the store, encoded once for every SRSE writer.

The record store and the History both write the *stored* record (after the store applied the
message) as an MLink JSON body.  ``stored_bodies`` gives them that body, computed once per
message (the last message's bodies are remembered, by identity), and without reading the
record back from the store when the message already is the whole stored record: the store is
the bus's gate, so a later handler sees a message only once it applied, and a non-merge
upsert leaves exactly its own fields (the others at their defaults, which an MLink body leaves
out).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import orjson

from ..bus import ColumnBatch, Event
from ..schema import Field, MsgType, fitted, is_default, message_encoder, pkey_of, pkey_text
from ..store import Store, Table

__all__ = ["Body", "stored_bodies"]


@dataclass(frozen=True, slots=True)
class Body:
    """One stored record as it is written: its pkey text, ``clientFirm`` (empty if the type has
    none), MLink JSON body and the sent time the store holds for it."""

    pkey: str
    firm: str
    body: bytes
    sent_ts: int


_LACKING_MAX = 512
_lacking_memo: dict[tuple[int, tuple[str, ...]], tuple[weakref.ref[Table], int, list[Field]]] = {}


def _lacking(t: Table, rec: dict[str, Any]) -> list[Field]:
    """The fields of ``t`` that ``rec`` does not carry and whose stored value the body may
    show: a field no write ever gave a value holds its default in every row, and a default
    the encoder leaves out need not be read (remembered per table and set of names, until a
    write gives another field a value; bounded)."""
    k = (id(t), tuple(rec))
    written = t.written
    got = _lacking_memo.get(k)
    if got is None or got[0]() is not t or got[1] != len(written):  # (an id may be reused)
        if len(_lacking_memo) >= _LACKING_MAX:
            _lacking_memo.clear()
        got = _lacking_memo[k] = (weakref.ref(t), len(written), [
            f for f in t.mt.fields
            if f.name not in rec and (f.name in written or not is_default(f, f.default))])
    return got[2]


_last: list[Any] = [None, None, []]  # [message, its type, its bodies]: one message remembered


_PKEYS_MAX = 4096
_pkeys: dict[tuple[str, tuple[Any, ...]], str] = {}  # pkey text by pkey (versions share it)


def _pkey(mt: MsgType, rec: dict[str, Any]) -> str:
    if not mt.pkey:
        return ""
    k = (mt.name, pkey_of(mt, rec))
    txt = _pkeys.get(k)
    if txt is None:
        if len(_pkeys) >= _PKEYS_MAX:
            _pkeys.clear()
        txt = _pkeys[k] = pkey_text(mt, k[1])
    return txt


def _body(mt: MsgType, rec: dict[str, Any], sent_ts: int) -> Body:
    firm = rec.get("clientFirm") or "" if mt.field("clientFirm") is not None else ""
    pk = _pkey(mt, rec)
    return Body(pk, str(firm), fitted(orjson.dumps(message_encoder(mt)(rec))), int(sent_ts))


def stored_bodies(store: Store, mt: MsgType, msg: Event | ColumnBatch) -> list[Body]:
    """The records of ``mt`` that ``msg`` (an upsert or column batch, already applied to
    ``store``) left stored, encoded; empty for a delete."""
    if _last[0] is msg and _last[1] is mt:
        return _last[2]  # type: ignore[no-any-return]
    out: list[Body] = []
    if isinstance(msg, ColumnBatch):
        t = store.table(mt)
        rows = t.live_rows()
        for r in rows[t.row_seq[rows] == t.seq].tolist():  # the rows the batch just wrote
            out.append(_body(mt, t.record(r), int(t.sent_ts[r])))
    elif msg.kind == "upsert":
        if not msg.merge:  # the stored record is this one (see the module docstring)
            out.append(_body(mt, msg.rec, msg.sent_ts))
        else:  # merged: the stored values of the fields it lacks, under its own
            t = store.table(mt)
            lacking = _lacking(t, msg.rec)
            if not lacking:  # it carries every field the body may show (a broker state)
                out.append(_body(mt, msg.rec, msg.sent_ts))
            else:
                row = t.row_of(pkey_of(mt, msg.rec))
                if row is not None:
                    rec = t.record(row, lacking)
                    rec.update(msg.rec)
                    out.append(_body(mt, rec, msg.sent_ts))
    _last[:] = [msg, mt, out]
    return out
