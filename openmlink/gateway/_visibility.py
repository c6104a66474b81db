"""What a caller may read: client-firm visibility (MsgDesc.hasCF: a caller bound to a firm
sees only its records) and the store's per-type row rules (``Store.restrict_rows``: an
auction's records only for the firms in its audience)."""

from __future__ import annotations

from ..query import BAnd, Bound, Leaf
from ..schema import Field, MsgType
from ..store import Store
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


def visible(mt: MsgType, bound: Bound | None, who: Principal | None,
            store: Store | None = None) -> Bound | None:
    """``bound`` restricted to what the caller may see: its client firm's records for types
    with a firm field, and the rows ``store``'s row rules allow it (every read path --
    REST, MLinkStream, MLinkSubscribe -- builds its filter here; SQL asks the store too)."""
    parts: list[Bound] = [] if bound is None else [bound]
    f = firm_field(mt)
    if who is not None and who.client_firm is not None and f is not None:
        parts.append(Leaf(f.name, f.name, None, "str", "eq", who.client_firm))
    if store is not None:
        rule = store.row_rule(mt, who)
        if rule is not None:
            parts.append(rule)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else BAnd(tuple(parts))
