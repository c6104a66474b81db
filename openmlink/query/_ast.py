"""The ``where`` syntax tree: plain frozen nodes, and the printer that turns them back into text.

``parse(to_text(tree)) == tree`` for every tree the parser produces.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OPERATORS", "And", "Cmp", "Node", "Or", "to_text"]

#: the eleven comparison operators of spec section 5.2
OPERATORS = ("eq", "ne", "gt", "ge", "lt", "le", "sw", "ew", "cv", "nv", "cb")


@dataclass(frozen=True, slots=True)
class Cmp:
    """``path:op:value``; for ``cb`` the value is ``low$high`` and ``high`` is set."""

    path: tuple[str, ...]
    op: str
    value: str
    high: str | None = None


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


Node = Cmp | And | Or


def to_text(node: Node) -> str:
    """Canonical text of a tree (``&`` for AND, parentheses around nested ORs)."""
    if isinstance(node, Cmp):
        v = node.value if node.high is None else f"{node.value}${node.high}"
        return f"{'.'.join(node.path)}:{node.op}:{v}"
    if isinstance(node, And):
        return " & ".join(
            f"({to_text(n)})" if isinstance(n, Or) else to_text(n) for n in node.items
        )
    return " | ".join(
        f"({to_text(n)})" if isinstance(n, Or) else to_text(n) for n in node.items
    )
