"""The MLink query language: ``where`` (parser, binder, record predicate, column mask),
``view``, ``order``, ``limit`` and aggregates."""

from ._aggregate import aggregate
from ._ast import OPERATORS, And, Cmp, Node, Or, to_text
from ._bind import BAnd, BNot, BOr, Bound, Leaf, QueryError, bind, compile_where
from ._liveset import LiveSet
from ._mask import where_mask
from ._parser import WhereError, parse_where
from ._predicate import compile_predicate
from ._shape import OrderTerm, order_rows, parse_limit, parse_order, parse_view

__all__ = [
    "OPERATORS",
    "And",
    "BAnd",
    "BNot",
    "BOr",
    "Bound",
    "Cmp",
    "Leaf",
    "LiveSet",
    "Node",
    "Or",
    "OrderTerm",
    "QueryError",
    "WhereError",
    "aggregate",
    "bind",
    "compile_predicate",
    "compile_where",
    "order_rows",
    "parse_limit",
    "parse_order",
    "parse_view",
    "parse_where",
    "to_text",
    "where_mask",
]
