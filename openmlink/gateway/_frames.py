"""Control frames of the WebSocket protocol (acks, checkpoints, admin) and what the session
parts need from the session that owns them."""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from ._auth import Principal

__all__ = ["SessionOwner", "Watcher", "control"]


def control(name: str, body: dict[str, Any]) -> bytes:
    """An MLink control record, empty and zero fields left out."""
    body = {k: v for k, v in body.items() if v not in (0, "", None, [], "None")}
    return orjson.dumps({"header": {"mTyp": name}, "message": body})


class SessionOwner(Protocol):
    """The session a stream or subscription set belongs to."""

    principal: Principal | None

    def queue(self, frame: bytes) -> None:
        """Send ``frame`` (in order with everything else the session sends)."""

    def rewake(self) -> None:
        """Ask for another ``pull`` (work is left, or changes wait for a later cycle)."""

    def data_ack(self, msg_type: int, result: str, detail: str, sent_ts: int = 0) -> None:
        """An MLinkDataAck."""

    def on_change(self) -> None:
        """A watched table changed."""


class Watcher(Protocol):
    """What ``Hub.watch`` registers: told when a watched table changes (or goes stale)."""

    def on_change(self) -> None:
        """A watched table changed."""
