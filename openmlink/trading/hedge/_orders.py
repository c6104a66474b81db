"""The hedge parent orders of one autohedge group (trading.md §4.2): a buy and a sell broker on
the hedge stock, worked through the order manager like any client order.

``HedgeSide`` follows one side's broker from the ``SpdrParentBrkrState`` records the order
manager publishes; ``plan`` decides, from the group's target and the two sides, which
``SpdrParentOrder`` actions to post.  Sans-I/O: the engine posts the returned actions.

Rules (inferred where the spec is silent):

- The target ``T`` (HedgeToZero / HedgeToBand, lots, control orderSize cap; 0 while InBand) is
  computed from *filled* delta only, so the side of ``T`` should have exactly ``|T|`` working
  (``leaves = orderSize - cumFill`` of its broker) and the other side nothing.
- No open broker on the side: ``AddReplace`` with ``orderSize = |T|`` (a new chain).  An open
  broker with other leaves: ``Replace`` with ``orderSize = cumFill + |T|`` (fills racing the
  replace then shrink what is left by the same amount the group's delta moved).  ``T`` 0 or on
  the other side: ``Cancel``.
- A side whose broker is PendNew or Closing (a replace or cancel under way) gets nothing until
  the order manager has answered; a side whose order was rejected is not re-posted for the same
  target (the reject text is shown in ``bBrkrError``/``sBrkrError``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HedgeSide", "plan"]

#: SpdrParentBrkrState spdrBrokerStatus values of a broker that works (may be replaced/cancelled)
_OPEN = frozenset({"Active", "ActiveHold"})
#: ... of a broker between two states (the order manager has not answered yet)
_BUSY = frozenset({"Updating", "Closing"})


@dataclass
class HedgeSide:
    """One side's hedge broker as its last SpdrParentBrkrState showed it."""

    side: int  # +1 buy, -1 sell
    parent_number: int = 0
    broker_status: str = ""  # spdrBrokerStatus name; "" = never posted
    order_size: int = 0
    cum: int = 0
    error: str = ""  # the last reject text
    rejected_target: int = -1  # |T| a rejected post asked for (not re-posted for it)
    posted: int = 0  # parentNumber posted and not yet seen in a state record

    @property
    def open(self) -> bool:
        return self.broker_status in _OPEN

    @property
    def busy(self) -> bool:
        return self.posted != 0 or self.broker_status in _BUSY

    @property
    def leaves(self) -> int:
        return max(0, self.order_size - self.cum) if self.open else 0

    def status_text(self) -> str:
        """``bBrkrStatus`` / ``sBrkrStatus``: the broker status; Sent while a post has no answer
        yet, NotSent before any post."""
        if self.posted:
            return "Sent"
        return self.broker_status or "NotSent"


def plan(target: int, sides: dict[int, HedgeSide]) -> list[tuple[int, str, int]]:
    """The posts that bring the two sides in line with ``target`` (+ buy, - sell):
    ``(side, spdrActionType, orderSize)`` each."""
    out: list[tuple[int, str, int]] = []
    for s, sd in sides.items():
        want = max(s * target, 0)
        if sd.busy:
            continue
        if want == 0:
            if sd.open:
                out.append((s, "Cancel", max(sd.order_size, 1)))
            continue
        if sd.open:
            if sd.leaves != want:
                out.append((s, "Replace", sd.cum + want))
        elif want != sd.rejected_target:
            out.append((s, "AddReplace", want))
    return out
