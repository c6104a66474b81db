"""A live table: the latest record per pkey of one message type, stored by column.

Columns (NumPy arrays, grown by doubling) hold the internal representation of ``schema``:
floats as float64; integers, DateTime ns and flags as int64; enum ordinals as int16; DateKey
days as int32; strings dictionary-encoded (int32 codes into a per-column ``Vocab``); key
fields split into member columns ``<field>.at .ts .tk [.dt .xx .cp]``; repeating groups as
Python objects. A dict maps each pkey tuple to its row; deleted rows are reused.

Every change bumps ``seq`` and stamps the row's ``row_seq``, so readers can ask what changed
since a point; listeners are told which rows changed after each write.  A table computed as it
is read (``Store.computed_on_read``) also tells its ``stale_listeners`` when one of its inputs
changed: its rows may be out of date until the next read refreshes them.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from ..schema import (
    DATEKEY_NONE,
    KEY_MEMBERS,
    ExpiryKey,
    Field,
    MsgType,
    OptionKey,
    TickerKey,
    datekey_from_text,
    datekey_to_text,
    pkey_of,
)
from ..schema import key_member_names as key_member_enum

__all__ = ["Listener", "StaleListener", "Table", "Vocab"]

Listener = Callable[["Table", np.ndarray, bool], None]  # (table, rows, deleted)
StaleListener = Callable[["Table"], None]

_MEMBER_DTYPE = {"at": np.int16, "ts": np.int16, "tk": np.int32, "dt": np.int32,
                 "xx": np.float64, "cp": np.int8}
_MEMBER_EMPTY = {"at": -1, "ts": -1, "tk": 0, "dt": DATEKEY_NONE, "xx": math.nan, "cp": -1}

_NOTHING: Mapping[str, Any] = {}
_HINT_MIN = 256
_CLEAR_BLOCK = 256  # new rows emptied ahead at a time
"""``upsert_columns`` batches at least this long find known rows through the key-column hints
(below) instead of building a pkey tuple per row."""
_H_MUL = np.uint64(0xBF58476D1CE4E5B9)
_COMPACT_EVERY = 64
_COMPILE_AFTER = 4  # single-record writes of one shape before its writer is generated
_WRITERS_MAX = 64  # generated writers per table (other shapes take the generic loop)
_KEY_MEMO_MAX = 1 << 14


@contextlib.contextmanager
def _no_gc(on: bool) -> Iterator[None]:
    """No cyclic-GC passes while many key tuples are built (they would run every ~700
    allocations, a full one scanning the whole heap); the first pass after re-enabling sees
    the new tuples once and untracks them, as they hold only atoms."""
    if not on or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _maker(cls: type) -> Callable[[tuple[Any, ...]], Any]:
    """``cls(*t)`` for a named-tuple class without the per-call Python ``__new__`` (the same
    instances, built by ``tuple.__new__`` directly: about 3x faster per key)."""
    return functools.partial(tuple.__new__, cls)


class Vocab:
    """Dictionary encoding of one string column; code 0 is the empty string."""

    __slots__ = ("_arr", "_arr_len", "codes", "words")

    def __init__(self) -> None:
        self.words: list[str] = [""]
        self.codes: dict[str, int] = {"": 0}
        self._arr: np.ndarray | None = None
        self._arr_len = 0

    def code(self, word: str) -> int:
        c = self.codes.get(word)
        if c is None:
            c = len(self.words)
            self.words.append(word)
            self.codes[word] = c
        return c

    def encode(self, words: Iterable[str]) -> np.ndarray:
        arr = np.asarray(list(words) if not isinstance(words, np.ndarray) else words, dtype=object)
        if arr.size == 0:
            return np.zeros(0, np.int32)
        uniq, inv = np.unique(arr.astype(str), return_inverse=True)
        codes = np.fromiter((self.code(w) for w in uniq.tolist()), np.int32, len(uniq))
        return codes[inv.reshape(-1)]

    def array(self) -> np.ndarray:
        """The words as an object array (cached until the vocabulary grows)."""
        if self._arr is None or self._arr_len != len(self.words):
            self._arr = np.array(self.words, dtype=object)
            self._arr_len = len(self.words)
        return self._arr


def _column_specs(mt: MsgType) -> list[tuple[str, Field, str | None, Any, Any]]:
    """(column name, field, key member, dtype, empty value) for every stored column."""
    specs: list[tuple[str, Field, str | None, Any, Any]] = []
    for f in mt.fields:
        k = f.kind
        if k in KEY_MEMBERS:
            for m in KEY_MEMBERS[k]:
                specs.append((f"{f.name}.{m}", f, m, _MEMBER_DTYPE[m], _MEMBER_EMPTY[m]))
        elif k == "float":
            specs.append((f.name, f, None, np.float64, f.default))
        elif k in ("int", "flag", "DateTime"):
            specs.append((f.name, f, None, np.int64, f.default))
        elif k == "enum":
            specs.append((f.name, f, None, np.int16, f.default))
        elif k == "DateKey":
            specs.append((f.name, f, None, np.int32, f.default))
        elif k == "string":
            specs.append((f.name, f, None, np.int32, 0))
        elif k == "Repeater":
            specs.append((f.name, f, None, object, ()))
    return specs


class Table:
    """Latest record per pkey of one message type (create/replace semantics)."""

    def __init__(self, mt: MsgType, capacity: int = 256, log_size: int = 1 << 18,
                 log_start: int = 4096) -> None:
        self.mt = mt
        self.specs = _column_specs(mt)
        self._spec_by_col = {s[0]: s for s in self.specs}
        self._fields = {f.name: f for f in mt.fields}
        #: fields stored as one column written as given (not a key, not a string)
        self._plain = frozenset(f.name for f in mt.fields
                                if f.kind not in KEY_MEMBERS and f.kind != "string")
        #: how ``record`` reads each field: 0 plain column, 1 string, 2 key (``_get``)
        self._read_plan = [(f.name, 0 if f.name in self._plain else 1 if f.kind == "string" else 2, f)
                           for f in mt.fields]
        self._read_how = {p[0]: p for p in self._read_plan}
        self.capacity = max(16, capacity)
        self.cols: dict[str, np.ndarray] = {}
        self.vocabs: dict[str, Vocab] = {}
        for name, f, member, dtype, empty in self.specs:
            self.cols[name] = self._new(dtype, empty, self.capacity)
            if f.kind == "string" or member == "tk":
                self.vocabs[name] = Vocab()
        self.alive = np.zeros(self.capacity, bool)
        self.row_seq = np.zeros(self.capacity, np.int64)
        self.sent_ts = np.zeros(self.capacity, np.int64)
        self.n = 0  # rows in use, including deleted rows awaiting reuse
        #: rows ``[n, _clean_to)`` hold only empty cells (cleared ahead, a block at a time)
        self._clean_to = self.capacity
        self.count = 0  # live rows
        self.deletes = 0  # rows ever deleted (readers that mirror rows notice deletions)
        self.seq = 0
        self._writes = 0  # single-record writes since the last vocabulary check
        #: names of the fields some write gave a value (``upsert``, ``upsert_columns``): every
        #: cell of any other field still holds its empty value, the field's default (readers
        #: that leave defaults out may skip reading them)
        self.written: set[str] = set()
        self._col_field = {s[0]: s[1].name for s in self.specs}
        # ``upsert`` by record shape: generated cell writers, shapes counted until compiled,
        # key member cells by key
        self._writers: dict[tuple[str, ...], Callable[..., None]] = {}
        self._shapes_seen: dict[tuple[str, ...], int] = {}
        self._key_memo: dict[tuple[str, Any], tuple[Any, ...]] = {}
        self.index: dict[tuple[Any, ...], int] = {}
        self.free: list[int] = []
        self.listeners: list[Listener] = []
        self.stale_listeners: list[StaleListener] = []
        # change log: a ring of (row) written at each seq, for readers that poll for changes.
        # It starts at ``log_start`` entries and wraps, overwriting its oldest entries; it grows
        # (``_grow_log``, up to ``log_size``) only when a reader asks from before its oldest
        # entry (``changed_since``) and a ring of at most ``log_size`` would have held that
        # reader's lag: memory follows what readers need, not the number of writes (a ring
        # that doubled whenever it wrapped reached ``log_size``, 2 MiB, on any busy table,
        # a resident-memory step minutes into a run).
        self.log_size = log_size
        self._log_rows = np.zeros(max(1, min(log_start, log_size)), np.int64)
        self.log_count = 0  # entries ever appended
        self._log_floor = 0  # entries before this one are not in the ring (a batch skipped it)
        self._member_names = {m: key_member_enum(m) for m in ("at", "ts", "cp")}
        self._member_idx = {m: {n: i for i, n in enumerate(self._member_names[m])}
                            for m in ("at", "ts", "cp")}
        # Key-column hints for upsert_columns (a cache beside ``index``, never a replacement):
        # sorted 64-bit hashes of the pkey columns of rows written by large column batches,
        # with their rows.  A hint is used only if the row is alive, still flagged in
        # ``_hint_ok`` (cleared by ``upsert``/``delete`` and vocabulary compaction) and its
        # stored pkey columns equal the incoming ones -- then ``index`` maps exactly the tuple
        # ``_pk_tuples`` would build to that row.  Anything else takes the tuple path.
        self._pk_cols = [s[0] for s in self.specs if s[1].is_pkey]
        self._hint_h = self._dhint_h = np.zeros(0, np.uint64)
        self._hint_r = self._dhint_r = np.zeros(0, np.int64)
        self._hint_ok = np.zeros(self.capacity, bool)

    # ---------------------------------------------------------------- storage helpers
    @staticmethod
    def _new(dtype: Any, empty: Any, n: int) -> np.ndarray:
        if dtype is object:
            a = np.empty(n, dtype=object)
            a[:] = [()] * n
            return a
        return np.full(n, empty, dtype=dtype)

    def _grow(self, need: int) -> None:
        cap = self.capacity
        while cap < need:
            cap *= 2
        if cap == self.capacity:
            return
        for name, _f, _m, dtype, empty in self.specs:
            # Cells past ``n`` are never read: every allocated row is reset (``upsert``) or
            # written/defaulted column by column (``upsert_columns``).  So the new tail is left
            # unwritten -- its pages are first touched when rows are used, spread over later
            # writes, instead of a fill of the whole new capacity here (a ~1 s stall per
            # doubling of a 1M-row table of ~50 columns, page faults).
            if dtype is object:
                new = self._new(dtype, empty, cap)
            else:
                new = np.empty(cap, dtype=dtype)
            new[: self.n] = self.cols[name][: self.n]
            self.cols[name] = new
        for attr in ("alive", "row_seq", "sent_ts", "_hint_ok"):
            old = getattr(self, attr)
            new = np.zeros(cap, old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, attr, new)
        self.capacity = cap
        self._clean_to = self.n  # the new tail is unwritten

    def _alloc(self) -> int:
        """A row with only empty cells: a deleted one (``delete`` empties it) or the next
        new one (emptied ahead by ``_clear_ahead``)."""
        if self.free:
            return self.free.pop()
        if self.n >= self.capacity:
            self._grow(self.n + 1)
        if self.n >= self._clean_to:
            self._clear_ahead()
        self.n += 1
        return self.n - 1

    def _clear_ahead(self) -> None:
        """Empty the next block of new rows, a column slice at a time (one record's
        ``upsert`` then writes only its own cells, not every column of the row)."""
        lo = self.n
        hi = min(self.capacity, lo + _CLEAR_BLOCK)
        cols = self.cols
        for name, _f, _m, dtype, empty in self.specs:
            cols[name][lo:hi].fill(() if dtype is object else empty)
        self._clean_to = hi

    def _reset_row(self, row: int, keep: Mapping[str, Any] = _NOTHING) -> None:
        """Empty the row's cells, except those of the fields in ``keep`` (about to be written:
        ``_put`` writes every member column of a key field)."""
        cols = self.cols
        for name, f, _m, dtype, empty in self.specs:
            if f.name not in keep:
                cols[name][row] = () if dtype is object else empty

    def column(self, name: str) -> np.ndarray:
        """The column's first ``n`` cells (a view)."""
        return self.cols[name][: self.n]

    # ---------------------------------------------------------------- cell codecs
    def _put(self, row: int, f: Field, v: Any) -> None:
        k = f.kind
        if k in KEY_MEMBERS:
            members = KEY_MEMBERS[k]
            for m in members:
                col = self.cols[f"{f.name}.{m}"]
                if v is None or m not in v._fields:
                    col[row] = _MEMBER_EMPTY[m]
                    continue
                x = getattr(v, m)
                if m == "tk":
                    col[row] = self.vocabs[f"{f.name}.tk"].code(x)
                elif m == "dt":
                    col[row] = datekey_from_text(x)
                elif m == "xx":
                    col[row] = x
                else:
                    col[row] = self._member_idx[m][x]
        elif k == "string":
            self.cols[f.name][row] = self.vocabs[f.name].code(v)
        else:
            self.cols[f.name][row] = v

    def _get(self, row: int, f: Field) -> Any:
        k = f.kind
        if k in KEY_MEMBERS:
            c = self.cols
            n = f.name
            tk = c[f"{n}.tk"][row]
            if tk == 0:
                return None
            names = self._member_names
            at = names["at"][c[f"{n}.at"][row]]
            ts = names["ts"][c[f"{n}.ts"][row]]
            word = self.vocabs[f"{n}.tk"].words[tk]
            if k == "TickerKey" or c[f"{n}.dt"][row] == DATEKEY_NONE:
                return TickerKey(at, ts, word)
            dt = datekey_to_text(int(c[f"{n}.dt"][row]))
            if k == "ExpiryKey" or c[f"{n}.cp"][row] < 0:
                return ExpiryKey(at, ts, word, dt)
            return OptionKey(at, ts, word, dt, float(c[f"{n}.xx"][row]),
                             names["cp"][c[f"{n}.cp"][row]])
        if k == "string":
            return self.vocabs[f.name].words[self.cols[f.name][row]]
        v = self.cols[f.name][row]
        if k == "float":
            return float(v)
        if k == "Repeater":
            return v
        return int(v)

    # ---------------------------------------------------------------- reads
    def row_of(self, pk: tuple[Any, ...]) -> int | None:
        return self.index.get(pk)

    def record(self, row: int, fields: Iterable[Field] | None = None) -> dict[str, Any]:
        """The stored record at ``row`` (every field, or the given ones; defaults included)."""
        # one column read per plain field (``item`` gives the Python value ``_get`` would:
        # float, int or the Repeater's object), words for strings, keys by _get
        cols, vocabs, out = self.cols, self.vocabs, {}
        plan = self._read_plan if fields is None else [self._read_how[f.name] for f in fields]
        for name, how, f in plan:
            if how == 0:
                out[name] = cols[name].item(row)
            elif how == 1:
                out[name] = vocabs[name].words[cols[name].item(row)]
            else:
                out[name] = self._get(row, f)
        return out

    def get(self, pk: tuple[Any, ...]) -> dict[str, Any] | None:
        row = self.index.get(pk)
        return None if row is None else self.record(row)

    def differs(self, rows: np.ndarray, data: Mapping[str, Any]) -> np.ndarray:
        """Per row, whether any column of ``data`` (``upsert_columns`` form, one value per row
        of ``rows``) differs from what ``rows`` hold; NaN equals NaN.  Rows not alive differ."""
        rows = np.asarray(rows, np.int64)
        out = ~self.alive[rows]
        for name, v in data.items():
            stored = self.cols[name][rows]
            if name in self.vocabs:
                words = self.vocabs[name].array()[stored]
                out |= words != np.asarray(v, dtype=object)
            elif stored.dtype.kind == "f":
                new = np.asarray(v, np.float64)
                out |= ~((stored == new) | (np.isnan(stored) & np.isnan(new)))
            elif stored.dtype == object:
                out |= np.fromiter((a != b for a, b in zip(stored, v, strict=True)), bool, len(rows))
            else:
                out |= stored != np.asarray(v)
        return out

    def mark_stale(self) -> None:
        """An input of this computed table changed: tell the ``stale_listeners``."""
        for fn in self.stale_listeners:
            fn(self)

    def live_rows(self) -> np.ndarray:
        return np.flatnonzero(self.alive[: self.n])

    def __len__(self) -> int:
        return self.count

    def column_batch(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The records at ``rows`` by column, in ``upsert_columns`` form (string columns and
        key ``.tk`` members as arrays of str); repeating-group columns are left out."""
        out: dict[str, np.ndarray] = {}
        for name, _f, _m, dtype, _e in self.specs:
            if dtype is object:
                continue
            col = self.cols[name][rows]
            vocab = self.vocabs.get(name)
            out[name] = vocab.array()[col] if vocab is not None else col
        return out

    def rows_by_word(self, col: str, words: Iterable[str]) -> dict[str, np.ndarray]:
        """The live rows whose string column ``col`` (a ``.tk`` member, say) holds each of
        ``words`` (an empty array for a word no live row holds)."""
        live = self.live_rows()
        codes = self.cols[col][live]
        order = np.argsort(codes, kind="stable")
        srt = codes[order]
        out: dict[str, np.ndarray] = {}
        for w in words:
            c = self.vocabs[col].codes.get(w)
            if c is None:
                out[w] = np.zeros(0, np.int64)
                continue
            lo, hi = np.searchsorted(srt, c, "left"), np.searchsorted(srt, c, "right")
            out[w] = live[order[lo:hi]]
        return out

    # ---------------------------------------------------------------- writes
    def upsert(self, rec: Mapping[str, Any], *, merge: bool = True, sent_ts: int = 0) -> int:
        """Write one internal record; absent fields keep their value (``merge``) or reset.

        Returns the row. Listeners are told.
        """
        pk = pkey_of(self.mt, rec if isinstance(rec, dict) else dict(rec))
        row = self.index.get(pk)
        if row is None:
            row = self._alloc()  # all cells empty
            self.index[pk] = row
            self.alive[row] = True
            self.count += 1
        elif not merge:
            self._reset_row(row, rec)
        self._hint_ok[row] = False
        shape = tuple(rec)
        write = self._writers.get(shape)
        if write is None and len(self._writers) < _WRITERS_MAX:
            n = self._shapes_seen.get(shape, 0) + 1
            if n >= _COMPILE_AFTER:
                self._shapes_seen.pop(shape, None)
                write = self._writers[shape] = self._compile_writer(shape)
            else:
                if len(self._shapes_seen) >= 4 * _WRITERS_MAX:
                    self._shapes_seen.clear()
                self._shapes_seen[shape] = n
        if write is not None:
            write(self.cols, row, rec, self.vocabs, self._key_cells)
        else:
            cols, plain, fields = self.cols, self._plain, self._fields
            if not self.written.issuperset(rec):
                self.written.update(n for n in rec if n in fields)
            for name, v in rec.items():
                if name in plain:
                    cols[name][row] = v  # what ``_put`` does for a plain column, without dispatch
                else:
                    f = fields.get(name)
                    if f is not None:
                        self._put(row, f, v)
        if not merge:
            for f in self.mt.pkey_fields:
                if f.name not in rec:
                    self._put(row, f, f.default)
        self.seq += 1
        self.row_seq[row] = self.seq
        self.sent_ts[row] = sent_ts
        self._notify(np.array((row,), np.int64), False, 1)
        return row

    def _compile_writer(self, shape: tuple[str, ...]) -> Callable[..., None]:
        """``upsert``'s cell writes for records with exactly the field names ``shape``, as
        generated straight-line code: a plain column's cell set from the record, a string's
        vocabulary code looked up inline, a key's member cells from ``_key_cells`` (remembered
        per key).  Names that are not fields are ignored, as by the generic loop."""
        lines = ["def write(cols, row, rec, vocabs, key_cells):"]
        for name in shape:
            f = self._fields.get(name)
            if f is None:
                continue
            nm = repr(name)
            if name in self._plain:
                lines.append(f"    cols[{nm}][row] = rec[{nm}]")
            elif f.kind == "string":
                lines += [f"    v = rec[{nm}]", f"    voc = vocabs[{nm}]", "    c = voc.codes.get(v)",
                          f"    cols[{nm}][row] = voc.code(v) if c is None else c"]
            else:  # a key: one cell per member
                lines.append(f"    a = key_cells({nm}, rec[{nm}])")
                for i, m in enumerate(KEY_MEMBERS[f.kind]):
                    lines.append(f"    cols[{name + '.' + m!r}][row] = a[{i}]")
        lines.append("    return None")
        env: dict[str, Any] = {}
        exec(compile("\n".join(lines), f"<writer {self.mt.name}>", "exec"), env)
        self.written.update(n for n in shape if n in self._fields)
        return env["write"]  # type: ignore[no-any-return]

    def _key_cells(self, name: str, v: Any) -> tuple[Any, ...]:
        """The member cells ``_put`` writes for key ``v`` of field ``name``, in
        ``KEY_MEMBERS`` order (remembered per key until a vocabulary is rebuilt; bounded)."""
        try:
            got = self._key_memo.get((name, v))
        except TypeError:  # not hashable: not a key; computed (and refused) as _put would
            got = None
        if got is not None:
            return got
        f = self._fields[name]
        out = []
        for m in KEY_MEMBERS[f.kind]:
            if v is None or m not in v._fields:
                out.append(_MEMBER_EMPTY[m])
                continue
            x = getattr(v, m)
            if m == "tk":
                out.append(self.vocabs[f"{name}.tk"].code(x))
            elif m == "dt":
                out.append(datekey_from_text(x))
            elif m == "xx":
                out.append(x)
            else:
                out.append(self._member_idx[m][x])
        got = tuple(out)
        if len(self._key_memo) >= _KEY_MEMO_MAX:
            self._key_memo.clear()
        self._key_memo[(name, v)] = got
        return got

    def delete(self, pk: tuple[Any, ...]) -> bool:
        row = self.index.pop(pk, None)
        if row is None:
            return False
        self.alive[row] = False
        self._hint_ok[row] = False
        self.count -= 1
        self.deletes += 1
        self.seq += 1
        self.row_seq[row] = self.seq
        self._notify(np.array([row], np.int64), True)
        self._reset_row(row)
        self.free.append(row)
        return True

    def upsert_columns(self, data: Mapping[str, Any], *, sent_ts: int = 0) -> np.ndarray:
        """Vectorised write of many records given by column (the engines' fast path).

        ``data`` maps column names (see the module docstring) to equal-length arrays in the
        column representation, except that string columns (and key ``.tk`` members) are
        given as arrays of ``str``. Every pkey column must be present. Rows not in the table
        are created; columns not given keep their values (new rows take defaults).
        Returns the rows written, in input order.
        """
        lens = {len(v) for v in data.values()}
        if len(lens) != 1:
            raise ValueError("upsert_columns: all columns must have the same length")
        m = lens.pop()
        if m == 0:
            return np.zeros(0, np.int64)
        enc: dict[str, np.ndarray] = {}
        for name, v in data.items():
            if name not in self._spec_by_col:
                raise KeyError(f"{self.mt.name} has no column '{name}'")
            if name in self.vocabs:
                enc[name] = self.vocabs[name].encode(v)
            else:
                enc[name] = np.asarray(v)
        # pkey tuples from the pkey columns (decoded to the record representation)
        keycols = [s for s in self.specs if s[1].is_pkey]
        for s in keycols:
            if s[0] not in enc:
                raise KeyError(f"upsert_columns: pkey column '{s[0]}' is missing")
        hinted = m >= _HINT_MIN
        if hinted:
            h = self._key_hash(enc)
            rows = self._hinted_rows(h, enc)
            todo = np.flatnonzero(rows < 0)
        else:
            rows = np.full(m, -1, np.int64)
            todo = np.arange(m)
        if len(todo):
            sub = enc if len(todo) == m else {c: enc[c][todo] for c in self._pk_cols}
            with _no_gc(len(todo) >= _HINT_MIN):
                pks = list(self._pk_tuples(sub, len(todo)))
            get = self.index.get
            found = np.fromiter((get(pk, -1) for pk in pks), np.int64, len(todo))
            miss = np.flatnonzero(found < 0)
            if len(miss):
                new_pks = [pks[i] for i in miss.tolist()]
                distinct = list(dict.fromkeys(new_pks))  # a key may come twice in one batch
                ids = self._alloc_many(len(distinct))
                fresh = dict(zip(distinct, ids.tolist(), strict=True))
                self.index.update(fresh)
                found[miss] = [fresh[pk] for pk in new_pks]
                for name, _f, _m, dtype, empty in self.specs:
                    if name not in enc:
                        self.cols[name][ids] = () if dtype is object else empty
                self.alive[ids] = True
                self.count += len(distinct)
            rows[todo] = found
            if hinted:  # these rows now hold exactly these key columns
                self._add_hints(h[todo], found)
        for name, arr in enc.items():
            self.cols[name][rows] = arr
        self.written.update(self._col_field[name] for name in enc)
        self.seq += 1
        self.row_seq[rows] = self.seq
        self.sent_ts[rows] = sent_ts
        self._notify(rows, False)
        return rows

    # ---------------------------------------------------------------- key-column hints
    def _key_hash(self, enc: Mapping[str, np.ndarray]) -> np.ndarray:
        """A 64-bit hash per row of the pkey columns, as they will be stored."""
        m = len(enc[self._pk_cols[0]])
        h = np.full(m, 0x9E3779B97F4A7C15, np.uint64)
        for c in self._pk_cols:
            dtype = self._spec_by_col[c][3]
            x = np.asarray(enc[c]).astype(dtype, copy=False)
            x = x.view(np.uint64) if dtype is np.float64 else x.astype(np.int64).view(np.uint64)
            h ^= x
            h *= _H_MUL
            h ^= h >> np.uint64(29)
        return h

    def _hinted_rows(self, h: np.ndarray, enc: Mapping[str, np.ndarray]) -> np.ndarray:
        """Rows whose hint matches and whose stored pkey columns equal ``enc``'s; -1 else."""
        cand = np.full(len(h), -1, np.int64)
        for hh, rr in ((self._hint_h, self._hint_r), (self._dhint_h, self._dhint_r)):
            if len(hh) == 0:
                continue
            pos = np.minimum(np.searchsorted(hh, h), len(hh) - 1)
            cand = np.where((cand < 0) & (hh[pos] == h), rr[pos], cand)
        found = cand >= 0
        c = np.where(found, cand, 0)
        ok = found & self._hint_ok[c] & self.alive[c]
        for col in self._pk_cols:
            ok &= self.cols[col][c] == enc[col]
        return np.where(ok, cand, -1)

    def _add_hints(self, h: np.ndarray, rows: np.ndarray) -> None:
        """Record hints: a hash already known moves to its new row; new hashes go to the
        small delta arrays, merged into the main ones when the delta reaches a quarter of
        them (so a long run of batches costs O(n log n), not a full copy per batch)."""
        hu, first = np.unique(h, return_index=True)
        ru = rows[first].astype(np.int64)
        self._hint_ok[rows] = True
        for hh, rr in ((self._hint_h, self._hint_r), (self._dhint_h, self._dhint_r)):
            if len(hh) == 0 or len(hu) == 0:
                continue
            pos = np.minimum(np.searchsorted(hh, hu), len(hh) - 1)
            have = hh[pos] == hu
            rr[pos[have]] = ru[have]  # the same key columns moved to another row
            hu, ru = hu[~have], ru[~have]
        if len(hu) == 0:
            return
        dh = np.concatenate((self._dhint_h, hu))
        dr = np.concatenate((self._dhint_r, ru))
        o = np.argsort(dh, kind="stable")
        self._dhint_h, self._dhint_r = dh[o], dr[o]
        if len(self._dhint_h) > max(4096, len(self._hint_h) // 4):
            mh = np.concatenate((self._hint_h, self._dhint_h))
            mr = np.concatenate((self._hint_r, self._dhint_r))
            o = np.argsort(mh, kind="stable")
            self._hint_h, self._hint_r = mh[o], mr[o]
            self._dhint_h = np.zeros(0, np.uint64)
            self._dhint_r = np.zeros(0, np.int64)

    def _clear_hints(self) -> None:
        self._hint_h = self._dhint_h = np.zeros(0, np.uint64)
        self._hint_r = self._dhint_r = np.zeros(0, np.int64)
        self._hint_ok[:] = False

    def _alloc_many(self, k: int) -> np.ndarray:
        """``k`` free rows: reused ones first, then new ones at the end."""
        take = min(k, len(self.free))
        reused = [self.free.pop() for _ in range(take)]
        extra = k - take
        if self.n + extra > self.capacity:
            self._grow(self.n + extra)
        ids = np.concatenate((np.asarray(reused, np.int64),
                              np.arange(self.n, self.n + extra, dtype=np.int64)))
        self.n += extra
        self._clean_to = max(self._clean_to, self.n)
        return ids

    def _pk_tuples(self, enc: Mapping[str, np.ndarray], m: int) -> Iterable[tuple[Any, ...]]:
        parts: list[Iterable[Any]] = []
        for f in self.mt.pkey_fields:
            if f.kind in KEY_MEMBERS:
                parts.append(self._keys_from_columns(f, enc, m))
            elif f.kind == "string":
                words = self.vocabs[f.name].words
                parts.append([words[c] for c in enc[f.name].tolist()])
            elif f.kind == "float":
                parts.append(enc[f.name].astype(float).tolist())
            else:
                parts.append(enc[f.name].astype(np.int64).tolist())
        return zip(*parts, strict=True)

    def _keys_from_columns(
        self, f: Field, enc: Mapping[str, np.ndarray], m: int
    ) -> list[Any]:
        n = f.name
        at_names = key_member_enum("at")
        ts_names = key_member_enum("ts")
        words = self.vocabs[f"{n}.tk"].words
        at = [at_names[i] for i in enc[f"{n}.at"].tolist()]
        ts = [ts_names[i] for i in enc[f"{n}.ts"].tolist()]
        tk = [words[i] for i in enc[f"{n}.tk"].tolist()]
        if f.kind == "TickerKey":
            return list(map(_maker(TickerKey), zip(at, ts, tk, strict=True)))
        days = enc[f"{n}.dt"]
        uniq, inv = np.unique(days, return_inverse=True)
        dtext = np.array([datekey_to_text(int(d)) for d in uniq], dtype=object)[inv]
        if f.kind == "ExpiryKey":
            return list(map(_maker(ExpiryKey), zip(at, ts, tk, dtext.tolist(), strict=True)))
        cp_names = key_member_enum("cp")
        cp = [cp_names[i] for i in enc[f"{n}.cp"].tolist()]
        xx = enc[f"{n}.xx"].astype(float).tolist()
        return list(map(_maker(OptionKey), zip(at, ts, tk, dtext.tolist(), xx, cp, strict=True)))

    def changed_since(self, log_cursor: int, seq: int) -> tuple[np.ndarray, int]:
        """Rows changed (written or deleted) after a reader's position.

        ``log_cursor`` is the reader's last ``log_count``, ``seq`` the table ``seq`` it had
        then. Returns the distinct rows (ascending) and the new cursor. A reader that fell
        out of the bounded log gets every row whose ``row_seq`` is newer (a column scan).
        """
        if log_cursor >= self.log_count:
            return np.zeros(0, np.int64), self.log_count
        size = len(self._log_rows)
        if log_cursor < max(self._log_floor, self.log_count - size):
            lag = self.log_count - log_cursor
            if size < lag <= self.log_size:  # a bigger ring would have held this reader
                self._grow_log(lag)
            rows = np.flatnonzero(self.row_seq[: self.n] > seq)
            return rows.astype(np.int64), self.log_count
        a = log_cursor % size
        b = self.log_count % size
        if a < b:
            part = self._log_rows[a:b]
        else:
            part = np.concatenate((self._log_rows[a:], self._log_rows[:b]))
        return np.unique(part), self.log_count

    def _log(self, rows: np.ndarray) -> None:
        k = len(rows)
        size = len(self._log_rows)
        if k > size:  # the ring cannot hold the batch: readers before it scan (and grow it)
            self.log_count += k
            self._log_floor = self.log_count
            return
        a = self.log_count % size
        end = a + k
        if end <= size:
            self._log_rows[a:end] = rows
        else:
            cut = size - a
            self._log_rows[a:] = rows[:cut]
            self._log_rows[: end - size] = rows[cut:]
        self.log_count += k

    def _grow_log(self, need: int) -> int:
        """Double the change log until it holds ``need`` entries (at most ``log_size``),
        keeping the entries it holds (a reader lagged ``need`` entries behind); returns the
        new size."""
        old = self._log_rows
        size = new_size = len(old)
        while new_size < need and new_size < self.log_size:
            new_size *= 2
        new_size = min(new_size, self.log_size)
        new = np.empty(new_size, np.int64)
        new.fill(0)  # every page now: the log's memory grows here, not page by page later
        pos = np.arange(max(self._log_floor, self.log_count - size), self.log_count)
        new[pos % new_size] = old[pos % size]
        self._log_rows = new
        self._log_floor = max(self._log_floor, self.log_count - size)
        return new_size

    def _compact_vocabs(self) -> None:
        """Keep string vocabularies bounded: when a column's vocabulary has grown well past
        the live rows (values churn), rebuild it from the codes still in use."""
        limit = 2 * max(self.count, 1) + 4096
        for name, v in list(self.vocabs.items()):
            if len(v.words) <= limit:
                continue
            codes = self.cols[name][: self.n]
            used = np.union1d(np.unique(codes[self.alive[: self.n]]), [0])
            fresh = Vocab()
            remap = np.zeros(len(v.words), np.int32)
            for c in used.tolist():
                remap[c] = fresh.code(v.words[c])
            self.cols[name][: self.n] = remap[codes]
            self.vocabs[name] = fresh
            self._key_memo.clear()  # a key's tk code may have changed
            if name in self._pk_cols:
                self._clear_hints()

    def _notify(self, rows: np.ndarray, deleted: bool, k: int = 0) -> None:
        """``k``: 1 when a single record was written (``rows`` is that row): the vocabulary
        check then runs every ``_COMPACT_EVERY`` such writes (each adds at most one word per
        column, so a vocabulary overshoots its bound by at most that many words)."""
        self._writes += k
        if not k or self._writes >= _COMPACT_EVERY:
            self._writes = 0
            self._compact_vocabs()
        self._log(rows)
        for fn in self.listeners:
            fn(self, rows, deleted)
