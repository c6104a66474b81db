"""Publish/subscribe of records by message type (ARCHITECTURE: bus/).

``Bus`` is the seam: engines and the store receive a bus and never build one. The in-process
bus delivers synchronously, in publish order, with no queue (so nothing can grow); a handler
that raises is logged and does not stop delivery to the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..schema import MsgType

__all__ = ["Bus", "ColumnBatch", "Event", "Handler", "InProcessBus", "RecordingBus"]

log = logging.getLogger("openmlink.bus")


@dataclass(frozen=True, slots=True)
class Event:
    """One record change: ``kind`` is ``upsert`` or ``delete``.

    ``rec`` is an internal record (``schema._codec``); with ``merge`` the fields it lacks
    keep their stored values, otherwise they take defaults.
    """

    mt: MsgType
    kind: str
    rec: dict[str, Any]
    sent_ts: int = 0
    merge: bool = False


@dataclass(frozen=True, slots=True)
class ColumnBatch:
    """Many upserts of one type given by column (the engines' and sources' fast path)."""

    mt: MsgType
    data: Mapping[str, Any] = field(default_factory=dict)
    sent_ts: int = 0


Message = Event | ColumnBatch
Handler = Callable[[Message], None]


class Bus(Protocol):
    def publish(self, msg: Message) -> None: ...

    def subscribe(self, msg_name: str | None, handler: Handler) -> Callable[[], None]:
        """Handle every message of ``msg_name`` (``None`` = all types); returns an
        unsubscribe function."""
        ...


class InProcessBus:
    """Synchronous in-process delivery (the embedded default)."""

    def __init__(self) -> None:
        self._by_type: dict[str, list[Handler]] = {}
        self._all: list[Handler] = []

    def subscribe(self, msg_name: str | None, handler: Handler) -> Callable[[], None]:
        lst = self._all if msg_name is None else self._by_type.setdefault(msg_name, [])
        lst.append(handler)

        def unsubscribe() -> None:
            if handler in lst:
                lst.remove(handler)
        return unsubscribe

    def publish(self, msg: Message) -> None:
        for h in (*self._all, *self._by_type.get(msg.mt.name, ())):
            try:
                h(msg)
            except Exception:
                log.exception("bus handler %r failed on %s", h, msg.mt.name)


class RecordingBus(InProcessBus):
    """An in-process bus that also keeps what was published (for tests)."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[Message] = []

    def publish(self, msg: Message) -> None:
        self.published.append(msg)
        super().publish(msg)
