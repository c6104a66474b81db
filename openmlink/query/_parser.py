"""Parser of the ``where`` language (spec section 5.1) into the tree of ``_ast``.

Grammar::

    orExpr  := andExpr ("|" andExpr)*
    andExpr := primary (("&" | "%26") primary)*
    primary := "(" orExpr ")" | fieldPath ":" op ":" value

A value runs to the next ``&``, ``%26``, ``|`` or ``)`` and is trimmed; ``cb`` bounds are
separated by ``$`` (or ``#``). Errors are ``WhereError`` naming the position (0-based) and
the problem.
"""

from __future__ import annotations

import re

from ._ast import OPERATORS, And, Cmp, Node, Or

__all__ = ["WhereError", "parse_where"]

#: a 10,000-key ``okey:eq:`` chain is about 400,000 characters
MAX_WHERE_LEN = 1 << 20
MAX_DEPTH = 64
#: where a field name or an operator ends, and where a value ends ('(' inside a value is an error)
_NAME_STOP = re.compile(r"[:&|()]|%26", re.IGNORECASE)
_VALUE_STOP = re.compile(r"[&|()]|%26", re.IGNORECASE)


class WhereError(ValueError):
    """A malformed ``where`` clause; ``pos`` is the 0-based character position."""

    def __init__(self, pos: int, problem: str) -> None:
        super().__init__(f"where: at position {pos}: {problem}")
        self.pos = pos
        self.problem = problem


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.depth = 0

    def ws(self) -> None:
        s, i = self.s, self.i
        while i < len(s) and s[i].isspace():
            i += 1
        self.i = i

    def at_and(self) -> int:
        """Length of an AND token at the cursor (0 if none)."""
        if self.s.startswith("&", self.i):
            return 1
        if self.s[self.i:self.i + 3].lower() == "%26":
            return 3
        return 0

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while True:
            self.ws()
            if self.i < len(self.s) and self.s[self.i] == "|":
                self.i += 1
                items.append(self.and_expr())
            else:
                break
        return items[0] if len(items) == 1 else Or(tuple(_flatten(items, Or)))

    def and_expr(self) -> Node:
        items = [self.primary()]
        while True:
            self.ws()
            n = self.at_and()
            if n:
                self.i += n
                items.append(self.primary())
            else:
                break
        return items[0] if len(items) == 1 else And(tuple(_flatten(items, And)))

    def primary(self) -> Node:
        self.ws()
        s = self.s
        if self.i >= len(s):
            raise WhereError(self.i, "expected a comparison or '(', got end of text")
        if s[self.i] == "(":
            start = self.i
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise WhereError(self.i, f"parentheses nested deeper than {MAX_DEPTH}")
            self.i += 1
            node = self.or_expr()
            self.ws()
            if self.i >= len(s) or s[self.i] != ")":
                raise WhereError(
                    self.i, f"unbalanced parentheses: '(' at position {start} is not closed"
                )
            self.i += 1
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Cmp:
        s = self.s
        start = self.i
        stop = _NAME_STOP.search(s, start)
        j = stop.start() if stop else len(s)
        name = s[start:j].strip()
        if j >= len(s) or s[j] != ":":
            got = "end of text" if j >= len(s) else f"'{s[j]}'"
            if not name:
                raise WhereError(start, f"expected a field name, got {got}")
            raise WhereError(j, f"expected ':' after field '{name}', got {got}")
        if not name:
            raise WhereError(start, "expected a field name before ':'")
        path = tuple(p.strip() for p in name.split("."))
        if any(not p or any(c.isspace() for c in p) for p in path):
            raise WhereError(start, f"'{name}' is not a field name or dotted path")
        stop = _NAME_STOP.search(s, j + 1)
        k = stop.start() if stop else len(s)
        op = s[j + 1:k].strip().lower()
        if op not in OPERATORS:
            raise WhereError(
                j + 1, f"unknown operator '{s[j + 1:k].strip()}' (use {' '.join(OPERATORS)})"
            )
        if k >= len(s) or s[k] != ":":
            got = "end of text" if k >= len(s) else f"'{s[k]}'"
            raise WhereError(k, f"expected ':' after operator '{op}' of '{name}', got {got}")
        v0 = k + 1
        stop = _VALUE_STOP.search(s, v0)
        m = stop.start() if stop else len(s)
        if m < len(s) and s[m] == "(":
            raise WhereError(m, "'(' is not allowed inside a value")
        value = s[v0:m].strip()
        self.i = m
        if op == "cb":
            sep = "$" if "$" in value else "#"
            if sep not in value:
                raise WhereError(v0, f"cb needs two bounds 'low$high', got '{value}'")
            lo, hi = (p.strip() for p in value.split(sep, 1))
            if not lo or not hi:
                raise WhereError(v0, f"cb needs two non-empty bounds 'low$high', got '{value}'")
            return Cmp(path, op, lo, hi)
        return Cmp(path, op, value)


def _flatten(items: list[Node], kind: type) -> list[Node]:
    out: list[Node] = []
    for n in items:
        if isinstance(n, kind):
            out.extend(n.items)  # type: ignore[union-attr]
        else:
            out.append(n)
    return out


def parse_where(text: str | None) -> Node | None:
    """Parse a where clause; ``None`` or blank text means all records."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_WHERE_LEN:
        raise WhereError(MAX_WHERE_LEN, f"where clause longer than {MAX_WHERE_LEN} characters")
    p = _Parser(text)
    node = p.or_expr()
    p.ws()
    if p.i < len(text):
        c = text[p.i]
        if c == ")":
            raise WhereError(p.i, "unbalanced parentheses: ')' without a matching '('")
        raise WhereError(p.i, f"unexpected '{c}'")
    return node
