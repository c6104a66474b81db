"""Client-firm visibility (MsgDesc.hasCF): a caller bound to a firm sees only its records."""

from __future__ import annotations

from ..query import BAnd, Bound, Leaf
from ..schema import MsgType
from ._auth import Principal

__all__ = ["visible"]


def visible(mt: MsgType, bound: Bound | None, who: Principal | None) -> Bound | None:
    """``bound`` restricted to the caller's client firm for types with a ``clientFirm`` field."""
    if who is None or who.client_firm is None or mt.field("clientFirm") is None:
        return bound
    f = mt.field("clientFirm")
    assert f is not None
    leaf = Leaf(f.name, f.name, None, "str", "eq", who.client_firm)
    return leaf if bound is None else BAnd((bound, leaf))
