"""The order status model of trading.md §1.4 as one explicit transition table.

A status is the pair (``spdrOrderStatus`` of the broker's current parent, ``spdrBrokerStatus``
of the broker).  Every ``SpdrParentBrkrState`` the order manager publishes moves its broker
along one edge of ``TRANSITIONS``; ``check_transition`` raises on anything else, so an illegal
move is a bug that fails loudly (in the engine and in the tests that replay published records).
"""

from __future__ import annotations

__all__ = ["NEW_PARENT", "START", "TERMINAL_ORDER", "TRANSITIONS", "IllegalTransition",
           "Status", "check_transition", "is_open"]

Status = tuple[str, str]  # (spdrOrderStatus, spdrBrokerStatus)

#: the state before a broker's first record
START: Status = ("", "")

PEND_NEW: Status = ("PendNew", "Updating")
NEW_ACTIVE: Status = ("New", "Active")
NEW_HOLD: Status = ("New", "ActiveHold")
CLOSING: Status = ("PendClose", "Closing")
CLOSED: Status = ("Closed", "Closed")
REJECTED: Status = ("Rejected", "Rejected")

#: legal moves for records of the same parent: from -> set of to
TRANSITIONS: dict[Status, frozenset[Status]] = {
    START: frozenset({PEND_NEW}),                                  # order accepted for processing
    PEND_NEW: frozenset({REJECTED,                                 # validation failure (§1.8)
                         NEW_ACTIVE,                               # validated, first child attempt
                         NEW_HOLD}),                               # validated, held (inferred: Aux
                                                                   # without limit, risk at arrival)
    NEW_ACTIVE: frozenset({NEW_ACTIVE,                             # fills, limit updates, Modify
                           NEW_HOLD,                               # risk/Aux/user hold
                           CLOSING}),                              # cancel, replace, expiry, filled
    NEW_HOLD: frozenset({NEW_HOLD, NEW_ACTIVE, CLOSING}),
    CLOSING: frozenset({CLOSING,                                   # fills racing the cancel
                        CLOSED,                                    # every child done
                        NEW_ACTIVE}),                              # cancel/replace refused
    CLOSED: frozenset(),
    REJECTED: frozenset(),
}

#: legal first states of a *new* parent on an existing broker (Replace / AddReplace reopening)
NEW_PARENT: dict[Status, frozenset[Status]] = {
    CLOSED: frozenset({PEND_NEW}),
    REJECTED: frozenset({PEND_NEW}),
}

TERMINAL_ORDER = frozenset({"Closed", "Rejected"})


class IllegalTransition(AssertionError):
    """A broker moved along an edge that is not in the table (a bug, never bad input)."""


def check_transition(prev: Status, prev_parent: int, nxt: Status, parent: int) -> None:
    """Raise ``IllegalTransition`` unless (prev, prev_parent) -> (nxt, parent) is legal."""
    if prev == START or prev_parent == parent:
        ok = nxt in TRANSITIONS.get(prev, frozenset())
    else:
        ok = nxt in NEW_PARENT.get(prev, frozenset())
    if not ok:
        raise IllegalTransition(f"illegal broker transition {prev} (parent {prev_parent:X}) -> "
                                f"{nxt} (parent {parent:X})")


def is_open(st: Status) -> bool:
    """A broker that has a working (not terminal) parent."""
    return st[0] not in TERMINAL_ORDER and st != START
