"""Who sees an auction: the client firms its order lets in (trading.md §3.1 directedCounterParty,
includeSRNetwork), for reads of its AuctionNotice and AuctionState records as for responses.

Those records have no ``clientFirm`` field, so the gateway's firm rule cannot filter them; the
auction engine registers a row rule on the store instead (``Store.restrict_rows``): a reader of
firm F sees the rows whose noticeNumber is not in F's *hidden* set.  The hidden sets are
``query.LiveSet``s, filled as each auction starts and before its first record is published, so
a stream opened before an auction starts neither leaks it to an excluded firm nor misses it for
an included one.  Only restricted auctions are remembered (an auction open to every firm costs
nothing); one entry per restricted auction, as the store keeps one AuctionNotice row per auction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ...query import BAnd, BNot, Bound, Leaf, LiveSet
from ...store import Store

__all__ = ["AUDIENCE_TYPES", "Audience", "AudienceRule", "RemoteAudience", "audience_rule",
           "rule_from_json", "rule_to_json"]

#: the auction records without a firm field whose reads follow the audience (NoticeExecReport,
#: NoticeResponse and the executions carry ``clientFirm``: their own firm's rule applies)
AUDIENCE_TYPES = ("AuctionNotice", "AuctionState")
_INCL = ("None", "Include", "Exclude", "Disclose")


@dataclass(frozen=True, slots=True)
class AudienceRule:
    """The firms an auction lets in: ``initiator`` always; ``only`` (when not None) the only
    other firms; ``out`` firms kept out; ``network`` whether the SR network (and so the
    simulated responders, which stand for it) is invited."""

    initiator: str
    only: frozenset[str] | None
    out: frozenset[str]
    network: bool = True

    def sees(self, firm: str) -> bool:
        if firm == self.initiator and firm:
            return True
        if firm in self.out:
            return False
        return self.only is None or firm in self.only


def _incl(v: Any) -> str:
    if isinstance(v, str):
        return v
    i = int(v or 0)
    return _INCL[i] if 0 <= i < len(_INCL) else "None"


def audience_rule(parent: Mapping[str, Any]) -> AudienceRule | None:
    """The audience of the auction a parent order starts; None when every firm is let in.
    ``DirectedCounterParty`` Include entries name the only other firms let in, Exclude entries
    firms kept out; (inferred) ``includeSRNetwork`` Exclude keeps out every firm not named
    Include (the SR network is not invited: with no Include entry only the initiator's firm
    sees the auction).  The initiator's own firm always sees its auction."""
    dcp = parent.get("DirectedCounterParty") or ()
    incl = frozenset(str(d.get("clientFirm", "")) for d in dcp if _incl(d.get("inclExcl")) == "Include")
    excl = frozenset(str(d.get("clientFirm", "")) for d in dcp if _incl(d.get("inclExcl")) == "Exclude")
    network_out = _incl(parent.get("includeSRNetwork")) == "Exclude"
    only = incl if (incl or network_out) else None
    if only is None and not excl:
        return None
    return AudienceRule(str(parent.get("clientFirm") or ""), only, excl, not network_out)


def rule_to_json(rule: AudienceRule | None) -> bytes:
    """An auction's audience as JSON (``None``: open to every firm) for other processes."""
    if rule is None:
        return b'{"open":true}'
    return json.dumps({"initiator": rule.initiator,
                       "only": None if rule.only is None else sorted(rule.only),
                       "out": sorted(rule.out), "network": rule.network}).encode()


def rule_from_json(data: bytes) -> AudienceRule | None:
    """``rule_to_json`` read back; ``ValueError`` naming what is wrong."""
    try:
        d = json.loads(data)
        if d.get("open") is True:
            return None
        only = d["only"]
        return AudienceRule(str(d["initiator"]), None if only is None else frozenset(map(str, only)),
                            frozenset(map(str, d["out"])), bool(d["network"]))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"unreadable auction audience {data[:80]!r}: {type(e).__name__}: {e}"
                         ) from None


class Audience:
    """The audience of every restricted auction, and per client firm the live set of the
    noticeNumbers hidden from it.  ``on_add`` (when set) is told each auction's rule (None:
    open to all) as it is added: the platform sends it to the other processes of a NATS bus."""

    def __init__(self) -> None:
        self._rules: dict[int, AudienceRule] = {}
        self._hidden: dict[str, LiveSet] = {}
        self.on_add: Callable[[int, AudienceRule | None], None] | None = None

    def add(self, notice: int, parent: Mapping[str, Any]) -> None:
        """Record the audience of auction ``notice`` (call before its first record goes out)."""
        rule = audience_rule(parent)
        if self.on_add is not None:
            self.on_add(notice, rule)
        self.add_rule(notice, rule)

    def add_rule(self, notice: int, rule: AudienceRule | None) -> None:
        """Record the audience ``rule`` of auction ``notice`` (None: open to every firm)."""
        if rule is None:
            return
        self._rules[notice] = rule
        for firm, hidden in self._hidden.items():
            if not rule.sees(firm):
                hidden.add(notice)

    def sees(self, notice: int, firm: str) -> bool:
        rule = self._rules.get(notice)
        return rule is None or rule.sees(firm)

    def hidden(self, firm: str) -> LiveSet:
        """The noticeNumbers hidden from ``firm`` (kept up to date as auctions start)."""
        s = self._hidden.get(firm)
        if s is None:
            s = self._hidden[firm] = LiveSet(n for n, r in self._rules.items() if not r.sees(firm))
        return s

    def bound(self, who: Any) -> Bound | None:
        """The rows of AuctionNotice/AuctionState reader ``who`` may see.  (inferred) A reader
        with no client firm (a development key, an operator) sees every auction, as it sees
        every firm's orders."""
        firm = getattr(who, "client_firm", None)
        if firm is None:
            return None
        return BNot(Leaf("noticeNumber", "noticeNumber", None, "num", "in", self.hidden(firm)))

    def register(self, store: Store) -> Callable[[], None]:
        """Make every read of ``store``'s auction records follow the audience; returns the
        function that undoes it."""
        removers = [store.restrict_rows(name, self.bound) for name in AUDIENCE_TYPES]

        def remove() -> None:
            for r in removers:
                r()
        return remove


class RemoteAudience(Audience):
    """The audience in a process without the auction engine (a NATS gateway): the rules come
    from the engine's process (``add_rule``, each before the auction's first record), and a
    firm-bound reader sees only the auctions whose rule arrived and lets it in -- an auction
    whose audience is unknown here is hidden from every firm (fail closed)."""

    def __init__(self) -> None:
        super().__init__()
        self.known = LiveSet()

    def add_rule(self, notice: int, rule: AudienceRule | None) -> None:
        super().add_rule(notice, rule)
        self.known.add(notice)

    def bound(self, who: Any) -> Bound | None:
        b = super().bound(who)
        if b is None:
            return None
        return BAnd((Leaf("noticeNumber", "noticeNumber", None, "num", "in", self.known), b))
