"""``MLinkStream.stripeFilter`` (spec 3.2.5): named, mutually exclusive partitions of symbols.

A stripe becomes a where clause on the type's security key (its ``tk`` and ``ts`` members).
The special-symbol stripes (S, M) take precedence over the alphabetical ranges (A1..H2), so a
symbol is in exactly one stripe. Range ends are exclusive.
"""

from __future__ import annotations

from ..query import BAnd, BNot, BOr, Bound, Leaf, QueryError
from ..schema import Field, MsgType, key_member_names

__all__ = ["STRIPES", "stripe_bound"]

_RANGES = {
    "A1": ("A", "AMZN"), "A2": ("AMZN", "COIN"), "B1": ("COIN", "ENQZZ"), "B2": ("ENQZZ", "GOOGL"),
    "C1": ("GOOGL", "IWM"), "C2": ("IWM", "LRCX"), "D1": ("LRCX", "METAA"), "D2": ("METAA", "NFLX"),
    "E1": ("NFLX", "NVDA"), "E2": ("NVDA", "NVDAA"), "F1": ("NVDAA", "QQQ"), "F2": ("QQQ", "QQQA"),
    "G1": ("QQQA", "SPY"), "G2": ("SPY", "SPYA"), "H1": ("SPYA", "TSLAA"), "H2": ("TSLAA", "ZZZZZZ"),
}
_SYMBOLS = {
    "M1": ("NDX", "NDXP", "RUT", "RUTW", "MRUT"), "M2": ("SPY", "VXX"), "M3": ("QQQ",), "M4": ("IWM",),
    "S": ("SPX", "SPXW", "XSP", "VIX", "VIXW"),
}
_SOURCES = {
    "I1": ("CIDX",), "I2": ("DJI",), "I3": ("RUT",), "I4": ("MIAX",),
    "J1": ("OTC",), "J2": ("MFQS",), "J3": ("CUSIP",), "J4": ("ISIN",), "J5": ("SR",),
    "V": ("CFE",), "X1": ("CME",), "X2": ("CBOT",), "X3": ("NYMEX",), "X4": ("COMEX",),
}
_COMPOUND = {
    **{c: (f"{c}1", f"{c}2") for c in "ABCDEFGH"},
    "I": ("I1", "I2", "I3", "I4"), "J": ("J1", "J2", "J3", "J4"), "M": ("M1", "M2", "M3", "M4"),
    "X": ("X1", "X2", "X3", "X4"),
}
STRIPES = frozenset({*_RANGES, *_SYMBOLS, *_SOURCES, *_COMPOUND})
_SPECIAL = tuple(sorted({s for k in ("M1", "M2", "M3", "M4", "S") for s in _SYMBOLS[k]}))


def _key_field(mt: MsgType) -> Field:
    for f in (*mt.pkey_fields, *mt.fields):
        if f.kind in ("OptionKey", "ExpiryKey", "TickerKey"):
            return f
    raise QueryError(f"stripeFilter: {mt.name} has no security key to stripe by")


def _tk(f: Field, op: str, v: str) -> Leaf:
    return Leaf(f"{f.name}.tk", f.name, "tk", "str", op, v)


def _ts(f: Field, names: tuple[str, ...]) -> Bound:
    srcs = key_member_names("ts")
    leaves: list[Bound] = [Leaf(f"{f.name}.ts", f.name, "ts", "num", "eq", srcs.index(n)) for n in names]
    return leaves[0] if len(leaves) == 1 else BOr(tuple(leaves))


def _one(f: Field, name: str) -> Bound:
    if name in _COMPOUND:
        return BOr(tuple(_one(f, p) for p in _COMPOUND[name]))
    if name in _SOURCES:
        return _ts(f, _SOURCES[name])
    if name in _SYMBOLS:
        syms = _SYMBOLS[name]
        eqs: tuple[Bound, ...] = tuple(_tk(f, "eq", s) for s in syms)
        return BAnd((_ts(f, ("NMS",)), eqs[0] if len(eqs) == 1 else BOr(eqs)))
    lo, hi = _RANGES[name]
    special = BOr(tuple(_tk(f, "eq", s) for s in _SPECIAL))
    return BAnd((_ts(f, ("NMS",)), _tk(f, "ge", lo), _tk(f, "lt", hi), BNot(special)))


def stripe_bound(mt: MsgType, text: str) -> Bound:
    """The where clause of a stripe name (or a comma list of names)."""
    names = [n.strip().upper() for n in text.replace("|", ",").split(",") if n.strip()]
    bad = [n for n in names if n not in STRIPES]
    if bad or not names:
        raise QueryError(f"stripeFilter: unknown stripe '{', '.join(bad) or text}' "
                         f"(A1..H2, A..H, I1..I4, I, J1..J5, J, M1..M4, M, S, V, X1..X4, X)")
    f = _key_field(mt)
    parts = tuple(_one(f, n) for n in names)
    return parts[0] if len(parts) == 1 else BOr(parts)
