"""Publish/subscribe of records by message type (ARCHITECTURE: bus/).

``Bus`` is the seam: engines and the store receive a bus and never build one. The in-process
bus delivers synchronously, in publish order, with no queue (so nothing can grow).

What ``publish`` does, in order:

1. **Validators** of the message's type run first (``add_validator``). One that raises
   ``errors.PostRejected`` aborts the publish: no handler runs, nothing is stored, and the
   exception propagates to the publisher (the gateway answers it in the poster's ack). A
   validator that fails otherwise aborts the publish the same way, as ``PublishFailed``.
2. **Handlers** run in subscription order, those of every type (the store, which the platform
   attaches first) before those of the message's type. A handler that raises is logged with
   its context (type, pkey, handler) and counted (``failures``), and the others still run -
   except after a *gate* handler (``subscribe(..., gate=True)``, the store): when the store
   could not apply a record, no later handler sees it.
3. **Failures reach someone.** For a client post (an ``Event`` with an ``origin``) ``publish``
   raises ``PublishFailed`` once every handler has run, so the poster's ack says which handler
   failed and why. The record stays stored: the store applied it first and is the state every
   reader and SRSE agree on; the ack tells the client that a reaction to it failed (inferred).
   For server-side messages (sources, engines) each failure goes to the bus ``supervisor``
   (default: counted and logged at ERROR; a runtime or a test may make it raise).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import PostRejected
from ..schema import MsgType, pkey_of, pkey_text

__all__ = ["Bus", "ColumnBatch", "Event", "Failure", "Handler", "InProcessBus", "PublishFailed",
           "RecordingBus", "Supervisor", "Validator", "describe", "handler_name", "log_failure"]

log = logging.getLogger("openmlink.bus")


@dataclass(frozen=True, slots=True)
class Event:
    """One record change: ``kind`` is ``upsert`` or ``delete``.

    ``rec`` is an internal record (``schema._codec``); with ``merge`` the fields it lacks
    keep their stored values, otherwise they take defaults. ``origin`` is the poster's identity
    (the API key's ``userName``, else the key) on client posts, empty on server-side records.
    """

    mt: MsgType
    kind: str
    rec: dict[str, Any]
    sent_ts: int = 0
    merge: bool = False
    origin: str = ""


@dataclass(frozen=True, slots=True)
class ColumnBatch:
    """Many upserts of one type given by column (the engines' and sources' fast path)."""

    mt: MsgType
    data: Mapping[str, Any] = field(default_factory=dict)
    sent_ts: int = 0


Message = Event | ColumnBatch
Handler = Callable[[Message], None]
Validator = Callable[[Message], None]


@dataclass(frozen=True, slots=True)
class Failure:
    """A handler (or validator) that raised while a message was delivered."""

    handler: str
    error: BaseException
    msg_name: str
    where: str  # the pkey, or the size of a column batch

    def __str__(self) -> str:
        return f"{self.handler}: {type(self.error).__name__}: {self.error}"


Supervisor = Callable[[Failure], None]


class PublishFailed(Exception):
    """Handlers failed while a client post was delivered (every handler ran), or a validator
    failed otherwise than by ``PostRejected`` (nothing ran). ``stored``: whether the record was
    applied by the gate handlers (the store)."""

    def __init__(self, failures: list[Failure], stored: bool) -> None:
        super().__init__("; ".join(str(f) for f in failures))
        self.failures = failures
        self.stored = stored


def describe(msg: Message) -> str:
    """Where a message points, for logs: ``pkey <text>`` or ``<n> rows``."""
    if isinstance(msg, ColumnBatch):
        n = max((len(v) for v in msg.data.values()), default=0)
        return f"{n} rows"
    try:
        return f"pkey {pkey_text(msg.mt, pkey_of(msg.mt, msg.rec))}"
    except Exception as e:  # the context of a log line must not hide the failure it reports
        return f"pkey unreadable ({type(e).__name__}: {e})"


def handler_name(h: Callable[..., Any]) -> str:
    """A readable name of a handler: ``SpanEngine.on_calc`` rather than its repr."""
    name = getattr(h, "__qualname__", None) or type(h).__qualname__
    return str(name).replace(".<locals>", "")


class Bus(Protocol):
    def publish(self, msg: Message) -> None: ...

    def subscribe(self, msg_name: str | None, handler: Handler, *, name: str | None = None,
                  gate: bool = False) -> Callable[[], None]:
        """Handle every message of ``msg_name`` (``None`` = all types); returns an
        unsubscribe function."""
        ...

    def add_validator(self, msg_name: str, fn: Validator) -> Callable[[], None]:
        """Run ``fn`` on every message of ``msg_name`` before any handler; returns a remove
        function."""
        ...


@dataclass(slots=True)
class _Sub:
    fn: Handler
    name: str
    gate: bool


def log_failure(f: Failure) -> None:
    """The default supervisor: the failure logged at ERROR with its context."""
    log.error("bus handler %s failed on %s (%s): %s: %s", f.handler, f.msg_name, f.where,
              type(f.error).__name__, f.error, exc_info=f.error)


class InProcessBus:
    """Synchronous in-process delivery (the embedded default)."""

    def __init__(self, supervisor: Supervisor | None = None, keep_failures: int = 100) -> None:
        self._by_type: dict[str, list[_Sub]] = {}
        self._all: list[_Sub] = []
        self._validators: dict[str, list[tuple[str, Validator]]] = {}
        #: called with each failure of a server-side message (after it is counted)
        self.supervisor: Supervisor = supervisor or log_failure
        #: handler failures so far (client posts and server-side messages)
        self.failures = 0
        #: the latest failures (bounded), for tests and diagnostics
        self.recent_failures: deque[Failure] = deque(maxlen=keep_failures)

    def subscribed_types(self) -> frozenset[str]:
        """The types that a handler subscribed to by name (not the store's or another
        all-types handler): what the engines on this bus consume."""
        return frozenset(name for name, subs in self._by_type.items() if subs)

    def subscribe(self, msg_name: str | None, handler: Handler, *, name: str | None = None,
                  gate: bool = False) -> Callable[[], None]:
        """Handle every message of ``msg_name`` (``None`` = all types). ``name`` is how
        failures name the handler; a ``gate`` handler that raises stops delivery of that
        message to the handlers after it. Returns an unsubscribe function."""
        lst = self._all if msg_name is None else self._by_type.setdefault(msg_name, [])
        sub = _Sub(handler, name or handler_name(handler), gate)
        lst.append(sub)

        def unsubscribe() -> None:
            if sub in lst:
                lst.remove(sub)
        return unsubscribe

    def add_validator(self, msg_name: str, fn: Validator, *, name: str | None = None
                      ) -> Callable[[], None]:
        """Run ``fn(msg)`` on every message of ``msg_name`` before any handler; it refuses one
        by raising ``errors.PostRejected``. Returns a remove function."""
        lst = self._validators.setdefault(msg_name, [])
        entry = (name or handler_name(fn), fn)
        lst.append(entry)

        def remove() -> None:
            if entry in lst:
                lst.remove(entry)
        return remove

    def publish(self, msg: Message) -> None:
        self._validate(msg)
        self._accepted(msg)
        self._deliver(msg)

    def _deliver(self, msg: Message) -> None:
        """Run the handlers (validators already passed; see the module docstring)."""
        failed: list[Failure] = []
        stored = True
        for sub in (*self._all, *self._by_type.get(msg.mt.name, ())):
            try:
                sub.fn(msg)
            except Exception as e:
                f = Failure(sub.name, e, msg.mt.name, describe(msg))
                self.failures += 1
                self.recent_failures.append(f)
                failed.append(f)
                if sub.gate:
                    stored = False
                    break
        if not failed:
            return
        if isinstance(msg, Event) and msg.origin:
            for f in failed:
                log.error("bus handler %s failed on %s (%s) posted by %s: %s", f.handler,
                          f.msg_name, f.where, msg.origin, f, exc_info=f.error)
            raise PublishFailed(failed, stored)
        for f in failed:
            self.supervisor(f)

    def _validate(self, msg: Message) -> None:
        for name, fn in self._validators.get(msg.mt.name, ()):
            try:
                fn(msg)
            except PostRejected:
                raise
            except Exception as e:
                f = Failure(name, e, msg.mt.name, describe(msg))
                self.failures += 1
                self.recent_failures.append(f)
                log.error("bus validator %s failed on %s (%s): %s", name, f.msg_name, f.where, f,
                          exc_info=e)
                raise PublishFailed([f], stored=False) from e

    def _accepted(self, msg: Message) -> None:
        """Called once the validators passed, before delivery (a hook for subclasses)."""


class RecordingBus(InProcessBus):
    """An in-process bus that also keeps what was published and accepted (for tests)."""

    def __init__(self, supervisor: Supervisor | None = None) -> None:
        super().__init__(supervisor)
        self.published: list[Message] = []

    def _accepted(self, msg: Message) -> None:
        self.published.append(msg)
