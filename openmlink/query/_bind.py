"""Typing a parsed ``where`` tree against a message type (spec section 5.3).

Binding resolves each field path (case-insensitive, ``pkey.`` prefix, dotted key members,
``ticker`` on option types) and parses each operand by the field's type. The result is a
tree of ``Leaf`` comparisons on *columns* in the store's representation, so that the record
predicate and the column mask evaluate exactly the same thing:

======================  =========================================================
column kind (``vk``)    representation
======================  =========================================================
``num``                 float/int fields, enum ordinals, DateTime ns, DateKey days
``str``                 Python ``str``
``flag``                int bit mask
``keytext``             flat string form of a whole key field (sw/ew/cv/nv on keys)
``tuple``               several key members of one field at once (``in`` of member tuples)
======================  =========================================================

A key compared with a (possibly shorter) key string expands into comparisons of its
members: ``okey:eq:SPY-NMS-EQT-2025-05-16`` is ``at = EQT & ts = NMS & tk = SPY & dt = …``.

MLink has no ``in`` operator, so clients send ``|`` chains of ``eq`` terms. ``bind`` turns the
``eq`` terms of one OR on the same column into one ``in`` leaf (a set), and the whole-key
``eq`` terms on the same key field and members into one ``tuple`` leaf (a set of member
tuples): the column mask then does one lookup per row, not one mask per term.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from ..schema import (
    CP_SHORT,
    KEY_MEMBERS,
    Field,
    KeyError_,
    MsgType,
    datekey_from_text,
    datetime_from_text,
    idlong_from_text,
    key_kind_of,
    key_member_names,
    parse_any_key,
    registry,
)
from ._ast import And, Cmp, Node, Or
from ._parser import parse_where

__all__ = [
    "BAnd",
    "BNot",
    "BOr",
    "Bound",
    "Leaf",
    "QueryError",
    "bind",
    "compile_where",
    "key_member_enum",
    "resolve_column",
]


class QueryError(ValueError):
    """A where/view/order clause that does not fit the message type; says which and why."""


@dataclass(frozen=True, slots=True)
class Leaf:
    column: str  # "de", "accnt", "okey.tk", "okey" (keytext)
    field: str  # top-level field name
    member: str | None  # key member or None
    vk: str  # "num" | "str" | "flag" | "keytext" | "tuple"
    op: str  # eq ne gt ge lt le sw ew cv nv cb in
    a: Any = None
    b: Any = None  # upper bound for cb; for "in" ``a`` is a frozenset (or a ``LiveSet``)
    # vk "tuple" (op "in"): ``field`` is the key field, ``a`` a frozenset of member-value
    # tuples and ``b`` the member names, in KEY_ORDER


@dataclass(frozen=True, slots=True)
class BAnd:
    items: tuple[Bound, ...]


@dataclass(frozen=True, slots=True)
class BOr:
    items: tuple[Bound, ...]


@dataclass(frozen=True, slots=True)
class BNot:
    item: Bound


Bound = Leaf | BAnd | BOr | BNot

#: order of members when ordering keys (the flat string order, strike numeric)
KEY_ORDER = ("tk", "ts", "at", "dt", "xx", "cp")
_TEXT_OPS = ("sw", "ew", "cv", "nv")


def key_member_enum(member: str) -> tuple[str, ...]:
    """Member names of the enum behind a key member ('at', 'ts', 'cp')."""
    registry()  # the key enums are installed when the registry is built
    return key_member_names(member)


def resolve_column(mt: MsgType, path: tuple[str, ...], what: str = "field") -> tuple[Field, str | None]:
    """Resolve a (dotted) field path to (top-level field, key member or None)."""
    parts = list(path)
    if len(parts) > 1 and parts[0].lower() == "pkey":
        parts = parts[1:]
    name = parts[0]
    f = mt.field(name)
    member: str | None = None
    if f is None and name.lower() in ("ticker", "ekey"):
        # option/expiry records carry their ticker (and expiry) inside the key
        kf = mt.option_key_field()
        if kf is not None:
            f = kf
            member = "ticker" if name.lower() == "ticker" else "expiry"
    if f is None:
        raise QueryError(f"unknown {what} '{'.'.join(path)}' for {mt.name}")
    if f.kind == "Repeater":
        raise QueryError(f"{what} '{'.'.join(path)}': repeating group {f.name} cannot be used here")
    if len(parts) == 1:
        return f, member
    if len(parts) > 2 or f.kind not in KEY_MEMBERS:
        raise QueryError(f"unknown {what} '{'.'.join(path)}' for {mt.name}")
    sub = parts[1].lower()
    members = KEY_MEMBERS[f.kind]
    if member == "ticker":
        members = KEY_MEMBERS["TickerKey"]
    elif member == "expiry":
        members = KEY_MEMBERS["ExpiryKey"]
    if sub not in members:
        raise QueryError(
            f"'{'.'.join(path)}': {f.name} has no member '{parts[1]}' (members: {', '.join(members)})"
        )
    return f, sub


def _num(text: str, what: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise QueryError(f"{what}: '{text}' is not a number") from None
    if x != x:
        raise QueryError(f"{what}: NaN is not a comparable value")
    return x


def _enum_index(names: tuple[str, ...], text: str, what: str, ename: str) -> int:
    t = text.strip().lower()
    for i, n in enumerate(names):
        if n.lower() == t:
            return i
    if t.isdigit() and int(t) < len(names):
        return int(t)
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    raise QueryError(f"{what}: '{text}' is not a value of {ename} ({shown})")


def _operand(f: Field, member: str | None, text: str, what: str) -> tuple[str, Any]:
    """Parse one operand for a scalar column: returns (vk, value)."""
    if member is not None:
        if member == "tk":
            return "str", text
        if member == "dt":
            try:
                return "num", datekey_from_text(text)
            except ValueError as e:
                raise QueryError(f"{what}: {e}") from None
        if member == "xx":
            return "num", _num(text, what)
        if member == "cp":
            t = CP_SHORT.get(text.strip().lower()) or text
            return "num", _enum_index(key_member_enum("cp"), t, what, "CallPut")
        ename = "AssetType" if member == "at" else "TickerSrc"
        return "num", _enum_index(key_member_enum(member), text, what, ename)
    kind = f.kind
    if kind == "float":
        return "num", _num(text, what)
    if kind == "int":
        if f.id_long and "-" in text.strip().lstrip("-"):
            try:
                return "num", idlong_from_text(text)
            except ValueError as e:
                raise QueryError(f"{what}: {e}") from None
        return "num", _num(text, what)
    if kind == "string":
        return "str", text
    if kind == "enum":
        assert f.enum is not None
        return "num", _enum_index(f.enum.names, text, what, f.enum.name)
    if kind == "flag":
        assert f.enum is not None
        mask = 0
        for part in text.replace(",", "+").split("+"):
            if part.strip():
                mask |= f.enum.codes[_enum_index(f.enum.names, part, what, f.enum.name)]
        return "flag", mask
    if kind == "DateTime":
        try:
            return "num", datetime_from_text(text)
        except ValueError as e:
            raise QueryError(f"{what}: {e}") from None
    if kind == "DateKey":
        try:
            return "num", datekey_from_text(text)
        except ValueError as e:
            raise QueryError(f"{what}: {e}") from None
    raise QueryError(f"{what}: field {f.name} of type {f.type} cannot be compared")


def _key_members(f: Field, member: str | None, text: str, what: str) -> list[tuple[str, Any]]:
    """Parse a key operand into (member, typed value) pairs in KEY_ORDER."""
    try:
        key = parse_any_key(text)
    except KeyError_ as e:
        raise QueryError(f"{what}: {e}") from None
    cap = {"ticker": "TickerKey", "expiry": "ExpiryKey"}.get(member or "", f.kind)
    kinds = list(KEY_MEMBERS)
    if kinds.index(key_kind_of(key)) > kinds.index(cap):
        raise QueryError(f"{what}: '{text}' has more parts than a {cap}")
    out = []
    for m in KEY_ORDER:
        if m not in key._fields:
            continue
        v = getattr(key, m)
        if m == "tk":
            out.append((m, v))
        elif m == "dt":
            out.append((m, _days(v)))
        elif m == "xx":
            out.append((m, float(v)))
        else:
            out.append((m, key_member_enum(m).index(v)))
    return out


@functools.lru_cache(maxsize=4096)
def _days(text: str) -> int:
    return datekey_from_text(text)


def _key_leaf(f: Field, m: str, op: str, v: Any) -> Leaf:
    return Leaf(f"{f.name}.{m}", f.name, m, "str" if m == "tk" else "num", op, v)


def _lex(f: Field, members: list[tuple[str, Any]], strict: bool, greater: bool) -> Bound:
    """Lexicographic comparison of key members with an operand prefix."""
    op = "gt" if greater else "lt"
    alts: list[Bound] = []
    for i, (m, v) in enumerate(members):
        eqs = [_key_leaf(f, pm, "eq", pv) for pm, pv in members[:i]]
        alts.append(BAnd((*eqs, _key_leaf(f, m, op, v))) if eqs else _key_leaf(f, m, op, v))
    if not strict:
        alts.append(BAnd(tuple(_key_leaf(f, m, "eq", v) for m, v in members)))
    return BOr(tuple(alts)) if len(alts) > 1 else alts[0]


def _bind_cmp(mt: MsgType, c: Cmp) -> Bound:
    what = f"'{'.'.join(c.path)}:{c.op}:{c.value}{'' if c.high is None else '$' + c.high}'"
    f, member = resolve_column(mt, c.path)
    whole_key = f.kind in KEY_MEMBERS and member in (None, "ticker", "expiry")
    if whole_key:
        if c.op in _TEXT_OPS:
            if member is not None:
                raise QueryError(f"{what}: operator {c.op} applies to the whole key {f.name}")
            return Leaf(f.name, f.name, None, "keytext", c.op, c.value)
        if c.op in ("eq", "ne"):
            members = _key_members(f, member, c.value, what)
            node: Bound = BAnd(tuple(_key_leaf(f, m, "eq", v) for m, v in members))
            return BNot(node) if c.op == "ne" else node
        if c.op == "cb":
            lo = _key_members(f, member, c.value, what)
            hi = _key_members(f, member, c.high or "", what)
            return BAnd((_lex(f, lo, False, True), _lex(f, hi, False, False)))
        members = _key_members(f, member, c.value, what)
        return _lex(f, members, c.op in ("gt", "lt"), c.op in ("gt", "ge"))
    column = f.name if member is None else f"{f.name}.{member}"
    enum_names: tuple[str, ...] | None = None
    if member in ("at", "ts", "cp"):
        enum_names = key_member_enum(member)
    elif member is None and f.kind == "enum" and f.enum is not None:
        enum_names = f.enum.names
    if c.op in _TEXT_OPS:
        if enum_names is not None:
            # text operators on an enum match its member names
            t = c.value.lower()
            test = {
                "sw": lambda n: n.lower().startswith(t),
                "ew": lambda n: n.lower().endswith(t),
                "cv": lambda n: t in n.lower(),
                "nv": lambda n: t not in n.lower(),
            }[c.op]
            idx = frozenset(i for i, n in enumerate(enum_names) if test(n))
            return Leaf(column, f.name, member, "num", "in", idx)
        if f.kind == "flag" and member is None:
            if c.op not in ("cv", "nv"):
                raise QueryError(f"{what}: operator {c.op} does not apply to flag field {f.name}")
            vk, v = _operand(f, member, c.value, what)
            return Leaf(column, f.name, member, vk, c.op, v)
        if not (f.kind == "string" or member == "tk"):
            raise QueryError(
                f"{what}: operator {c.op} applies to text fields, not to {f.name} ({f.type})"
            )
        return Leaf(column, f.name, member, "str", c.op, c.value)
    vk, a = _operand(f, member, c.value, what)
    if vk == "flag" and c.op not in ("eq", "ne"):
        raise QueryError(f"{what}: operator {c.op} does not apply to flag field {f.name}")
    b = None
    if c.op == "cb":
        _, b = _operand(f, member, c.high or "", what)
    return Leaf(column, f.name, member, vk, c.op, a, b)


#: an OR with at least this many ``eq`` terms on one column (or key) becomes a set lookup
SET_MIN_TERMS = 2
_Sig = tuple[tuple[str, str, str | None, str], ...]  # (column, field, member, vk) per column


def _eq_terms(b: Bound) -> tuple[_Sig, tuple[Any, ...]] | None:
    """(signature, values) when ``b`` is an equality on one column, or on members of one key
    field (what a whole-key ``eq`` binds to); None otherwise."""
    if isinstance(b, Leaf):
        if b.op == "eq" and b.vk in ("num", "str", "flag"):
            return ((b.column, b.field, b.member, b.vk),), (b.a,)
        return None
    if not isinstance(b, BAnd) or len(b.items) < 2:
        return None
    leaves = b.items
    if not all(isinstance(x, Leaf) and x.op == "eq" and x.member in KEY_ORDER
               and x.vk in ("num", "str") for x in leaves):
        return None
    first = leaves[0]
    assert isinstance(first, Leaf)
    if any(x.field != first.field for x in leaves):  # type: ignore[union-attr]
        return None
    ordered = sorted(leaves, key=lambda x: KEY_ORDER.index(x.member))  # type: ignore[union-attr, arg-type]
    sig = tuple((x.column, x.field, x.member, x.vk) for x in ordered)  # type: ignore[union-attr]
    if len({c for c, *_ in sig}) != len(sig):
        return None  # the same member twice (``okey.tk:eq:A & okey.tk:eq:B``)
    return sig, tuple(x.a for x in ordered)  # type: ignore[union-attr]


def _set_leaf(sig: _Sig, values: list[tuple[Any, ...]]) -> Leaf:
    if len(sig) == 1:
        column, field, member, vk = sig[0]
        return Leaf(column, field, member, vk, "in", frozenset(v[0] for v in values))
    field = sig[0][1]
    members = tuple(str(m) for _, _, m, _ in sig)
    return Leaf(field, field, None, "tuple", "in", frozenset(values), members)


def _eq_cmp(mt: MsgType, c: Cmp, cols: dict[tuple[str, ...], tuple[Field, str | None]],
            sigs: dict[tuple[str, tuple[str, ...]], _Sig]) -> tuple[Bound, _Sig, tuple[Any, ...]]:
    """``_bind_cmp`` of an ``eq`` comparison, with its signature and values (the fast path
    of long chains: columns resolved once per path, signatures shared)."""
    rc = cols.get(c.path)
    if rc is None:
        rc = cols[c.path] = resolve_column(mt, c.path)
    f, member = rc
    if f.kind in KEY_MEMBERS and member in (None, "ticker", "expiry"):
        what = f"'{'.'.join(c.path)}:eq:{c.value}'"
        members = _key_members(f, member, c.value, what)
        names = tuple(m for m, _ in members)
        sig = sigs.get((f.name, names))
        if sig is None:
            sig = sigs[(f.name, names)] = tuple(
                (f"{f.name}.{m}", f.name, m, "str" if m == "tk" else "num") for m in names)
        values = tuple(v for _, v in members)
        node = BAnd(tuple(Leaf(col, fld, m, vk, "eq", v) for (col, fld, m, vk), v in zip(sig, values,
                                                                                        strict=True)))
        return node, sig, values
    b = _bind_cmp(mt, c)
    eq = _eq_terms(b)
    assert eq is not None
    return b, eq[0], eq[1]


def _bind_or(mt: MsgType, nodes: tuple[Node, ...]) -> Bound:
    """Bind an OR, with its ``eq`` chains on one column or key as set lookups."""
    groups: dict[_Sig, list[tuple[Bound, tuple[Any, ...]]]] = {}
    out: list[Bound] = []
    cols: dict[tuple[str, ...], tuple[Field, str | None]] = {}
    sigs: dict[tuple[str, tuple[str, ...]], _Sig] = {}
    for n in nodes:
        if isinstance(n, Cmp) and n.op == "eq":
            b, sig, values = _eq_cmp(mt, n, cols, sigs)
            groups.setdefault(sig, []).append((b, values))
            continue
        b = bind(mt, n)
        eq = _eq_terms(b)
        if eq is None:
            out.append(b)
        else:
            groups.setdefault(eq[0], []).append((b, eq[1]))
    for sig, terms in groups.items():
        if len(terms) < SET_MIN_TERMS:
            out.extend(b for b, _ in terms)
        else:
            out.append(_set_leaf(sig, [v for _, v in terms]))
    return out[0] if len(out) == 1 else BOr(tuple(out))


def bind(mt: MsgType, node: Node) -> Bound:
    """Type a parsed tree against ``mt``; raises ``QueryError`` naming the clause and reason."""
    if isinstance(node, Cmp):
        return _bind_cmp(mt, node)
    if isinstance(node, And):
        return BAnd(tuple(bind(mt, n) for n in node.items))
    if isinstance(node, Or):
        return _bind_or(mt, node.items)
    raise TypeError(node)  # pragma: no cover


def compile_where(mt: MsgType, text: str | None) -> Bound | None:
    """Parse and bind; ``None`` when the clause is empty (all records)."""
    node = parse_where(text)
    return None if node is None else bind(mt, node)

