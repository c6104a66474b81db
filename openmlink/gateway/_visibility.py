"""Client-firm visibility (MsgDesc.hasCF): a caller bound to a firm sees only its records."""

from __future__ import annotations

from ..query import BAnd, Bound, Leaf
from ..schema import Field, MsgType
from ._auth import Principal

__all__ = ["firm_field", "visible"]

#: fields naming the firm a record belongs to, by preference: ``clientFirm``, else (inferred)
#: ``riskFirm`` (RiskGroupCounter: the firm of the orders whose fills it counts)
_FIRM_FIELDS = ("clientFirm", "riskFirm")


def firm_field(mt: MsgType) -> Field | None:
    """The field that says which client firm owns a record of ``mt`` (None: no firm)."""
    for name in _FIRM_FIELDS:
        f = mt.field(name)
        if f is not None:
            return f
    return None


def visible(mt: MsgType, bound: Bound | None, who: Principal | None) -> Bound | None:
    """``bound`` restricted to the caller's client firm for types with a firm field."""
    f = firm_field(mt)
    if who is None or who.client_firm is None or f is None:
        return bound
    leaf = Leaf(f.name, f.name, None, "str", "eq", who.client_firm)
    return leaf if bound is None else BAnd((bound, leaf))
