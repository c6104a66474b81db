"""The distributed bus: the ``InProcessBus`` of each process, joined over NATS JetStream.

Every process (``openmlink serve --bus nats://HOST:PORT --role ...``) keeps an in-process bus
and its own live tables; a ``NatsBus`` also sends what is published in this process to NATS
and delivers what the other processes published to this process's handlers (the store first,
so the tables are a local replica).  Subjects, streams and the payload encoding are in
``docs/scale-out.md``:

* records (``Event``: client posts, orders, engine records) go through JetStream, stream
  ``<PREFIX>_REC`` on ``<prefix>.r.<MsgType>.<pkey>``, one message kept per subject (the
  latest record of each pkey) -- a new or restarted process replays it to rebuild its tables;
* column batches (market data, engine outputs) go on core NATS, one message per ticker on
  ``<prefix>.c.<MsgType>.<ticker>`` (cut into pieces below the server's ``max_payload``), each
  numbered per subject (header ``Oml-Seq``);
* snapshots: every ``snapshot_every`` seconds, for each (type, ticker) it sent since the last
  one, a process sends every live row of that ticker (from its own table) through JetStream,
  stream ``<PREFIX>_SNAP`` on ``<prefix>.s.<MsgType>.<ticker>.<piece>``, one kept per subject, with
  the ``Oml-Seq`` of the last live message it had sent there.  A joining process buffers live
  messages, replays the snapshots, then applies the buffered messages newer than them.  Each
  snapshot is also sent on the live subject (header ``Oml-Snap``), in order with the live
  messages: the processes already joined apply it there, which fills whatever a process
  missed (messages sent between the last stored snapshot and its subscription, say).

What ``publish`` does: the validators and this process's handlers as ``InProcessBus`` (same
errors), then the message is queued for NATS (bounded: ``queue_size`` messages; a full queue
is counted in ``dropped`` and reported to the supervisor, never waited on).  A message that
came from NATS is delivered to the handlers only: no validators (they ran where it was posted),
not sent again.  A process never receives its own messages back (header ``Oml-Src``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ..errors import PostRejected
from ..schema import KEY_MEMBERS, MsgType, pkey_of, pkey_text
from ._bus import (
    ColumnBatch,
    Event,
    Failure,
    InProcessBus,
    PublishFailed,
    Supervisor,
    Validator,
    handler_name,
)
from ._wire import decode_message, encode_message

__all__ = ["POST_TIMEOUT_S", "VALID_TTL_S", "NatsBus", "NatsStats", "NotDurable", "round_trip",
           "split_by_ticker", "split_rows", "subject_token", "ticker_column"]

log = logging.getLogger("openmlink.bus.nats")

Message = Event | ColumnBatch
_SAFE = re.compile(r"[A-Za-z0-9_\-]+")
H_SRC = "Oml-Src"
H_ORIGIN = "Oml-Origin"
H_SEQ = "Oml-Seq"
H_SNAP = "Oml-Snap"
#: seconds a client post waits for a remote validator's answer, then for its JetStream ack
POST_TIMEOUT_S = 5.0
#: seconds a validator registration in ``<PREFIX>_VALID`` lasts unless renewed (inferred: long
#: enough for a restart of the engine's process and a stalled event loop on a loaded host)
VALID_TTL_S = 60.0
#: a remote validator's check: each request waits CHECK_TRY_S (or less: it is asked again at
#: once of a process that registers meanwhile), asked again until CHECK_WAIT_S (a trading
#: holder's lease, 2 s, plus its standby's takeover: a post racing a failover is checked by
#: the new holder; inferred)
CHECK_TRY_S = 1.0
CHECK_WAIT_S = 4.5


class NotDurable(Exception):
    """A client post was applied in this process but JetStream did not acknowledge it (the
    reason is the message): it may be missing from the platform's records."""
#: (type, tickers) -> (ticker, columns) of every live row of those tickers (``Store.ticker_batches``)
Export = Callable[[MsgType, Iterable[str]], Iterable[tuple[str, Mapping[str, Any]]]]


def subject_token(text: str) -> str:
    """``text`` as one NATS subject token: letters, digits, ``-`` and ``_`` as they are, every
    other UTF-8 byte as ``%XX``; the empty text is ``%``."""
    if _SAFE.fullmatch(text):
        return text
    if not text:
        return "%"
    out = []
    for ch in text:
        if _SAFE.fullmatch(ch):
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode())
    return "".join(out)


def ticker_column(mt: MsgType) -> str | None:
    """The column whose ticker names a record's subject: ``<first key pkey field>.tk``."""
    for f in mt.fields:
        if f.is_pkey and f.kind in KEY_MEMBERS:
            return f"{f.name}.tk"
    return None


def split_by_ticker(batch: ColumnBatch) -> Iterator[tuple[str, ColumnBatch]]:
    """(ticker, the rows of that ticker) of a column batch, tickers in sorted order; a type
    with no key field in its pkey is one group named ``""``."""
    col = ticker_column(batch.mt)
    if col is None or col not in batch.data:
        yield "", batch
        return
    tk = np.asarray(batch.data[col])
    if len(tk) == 0:
        return
    names, inv, counts = np.unique(tk.astype(str), return_inverse=True, return_counts=True)
    if len(names) == 1:
        yield str(names[0]), batch
        return
    order = np.argsort(inv, kind="stable")
    cols = {k: np.asarray(v) for k, v in batch.data.items()}
    start = 0
    for name, n in zip(names.tolist(), counts.tolist(), strict=True):
        idx = order[start:start + n]
        start += n
        yield name, ColumnBatch(batch.mt, {k: v[idx] for k, v in cols.items()}, batch.sent_ts)


def _row_bytes(batch: ColumnBatch) -> int:
    """About how many payload bytes one row of ``batch`` takes (strings: 8)."""
    n = 0
    for v in batch.data.values():
        dt = np.asarray(v).dtype
        n += 8 if dt.kind in "OUS" else dt.itemsize
    return max(n, 1)


def split_rows(batch: ColumnBatch, max_bytes: int) -> list[ColumnBatch]:
    """``batch`` cut into consecutive pieces of at most about ``max_bytes`` payload each (NATS
    refuses a message above the server's ``max_payload``, 1 MiB by default)."""
    rows = max((len(v) for v in batch.data.values()), default=0)
    per = max(1, max_bytes // _row_bytes(batch))
    if rows <= per:
        return [batch]
    cols = {k: np.asarray(v) for k, v in batch.data.items()}
    return [ColumnBatch(batch.mt, {k: v[i:i + per] for k, v in cols.items()}, batch.sent_ts)
            for i in range(0, rows, per)]


@dataclass(slots=True)
class NatsStats:
    """What the bus did so far (for health and metrics)."""

    sent: int = 0  #: messages sent to NATS (records acknowledged by JetStream)
    received: int = 0  #: messages from other processes delivered here
    dropped: int = 0  #: messages not sent (send queue full, NATS refused) or not readable
    stale: int = 0  #: live messages or snapshots not applied: older than what was applied
    snapshots: int = 0  #: snapshots sent
    lag_ns: int = 0  #: latest receive time minus send time (wall clocks of two processes)
    check_retries: int = 0  #: remote validator checks asked again (nobody answered in time)
    #: checks asked again at once of a process that registered while the check waited for
    #: another's answer (a post racing a failover, re-routed to the new holder)
    check_rerouted: int = 0
    #: messages from other processes delivered here, by type (records, live column batches
    #: and snapshots: what this process's subscriptions brought it)
    received_types: dict[str, int] = field(default_factory=dict)


class NatsBus(InProcessBus):
    """An in-process bus joined to the other processes of a platform over NATS (module
    docstring).  ``connect`` (in the running event loop) before publishing; ``close``."""

    def __init__(self, url: str, *, prefix: str = "oml", supervisor: Supervisor | None = None,
                 queue_size: int = 65_536, name: str = "openmlink",
                 valid_ttl_s: float = VALID_TTL_S) -> None:
        super().__init__(supervisor)
        if not re.fullmatch(r"[a-z][a-z0-9_]*", prefix):
            raise ValueError(f"NATS subject prefix {prefix!r}: lower-case letters, digits, _")
        self.url = url
        self.prefix = prefix
        self.name = name
        self.id = uuid.uuid4().hex
        self.stats = NatsStats()
        self.rec_stream = f"{prefix.upper()}_REC"
        self.snap_stream = f"{prefix.upper()}_SNAP"
        self._queue_size = queue_size
        self._seq: dict[str, int] = {}  # live subject -> messages sent on it
        self._dirty: dict[str, tuple[MsgType, set[str]]] = {}  # type -> tickers sent since
        self._snapped: dict[tuple[str, str], float] = {}  # (type, ticker) -> last snapshot
        self._applied: dict[tuple[str, str], int] = {}  # (live subject, sender) -> Oml-Seq
        self._joining = True
        self._held: list[Any] = []  # live messages received while joining (bounded)
        self._snap_caught_up = asyncio.Event()
        self._snapper: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[tuple[str, bytes, dict[str, str], bool,
                                         asyncio.Future[None] | None]] = asyncio.Queue(queue_size)
        self._nc: Any = None
        self._js: Any = None
        self._subs: list[Any] = []
        self._sender: asyncio.Task[None] | None = None
        self._caught_up = asyncio.Event()
        self.valid_bucket = f"{prefix.upper()}_VALID"
        self._post: tuple[Event, asyncio.Future[None]] | None = None  # the post being published
        # type -> registrant (process id) -> when its registration was last seen (monotonic)
        self._remote_types: dict[str, dict[str, float]] = {}
        # type -> registrant -> the KV revision at which this process first saw it registered
        # (checks go to the newest: a process that took over registers after the one it
        # replaced; renewals do not change it)
        self._reg_rev: dict[str, dict[str, int]] = {}
        # type -> registrants that had no responder since they last registered
        self._gone: dict[str, set[str]] = {}
        # type -> set (and replaced) when a process registers the type anew
        self._reg_event: dict[str, asyncio.Event] = {}
        self.valid_ttl_s = valid_ttl_s
        self._expired: set[str] = set()  # types whose registrations expired (warned once)
        self._renewer: asyncio.Task[None] | None = None
        self._served: set[str] = set()  # types whose validators this process answers for
        self._kv: Any = None
        self._watcher: Any = None
        self._kv_task: asyncio.Task[None] | None = None
        self.shared_bucket = f"{prefix.upper()}_SHARED"
        self._shared: Any = None
        self._shared_watchers: list[Any] = []
        self._note_handlers: dict[str, list[Callable[[str, bytes], None]]] = {}
        self._only: frozenset[str] | None = None  # column types received (None: all)
        self._snap_sub: Any = None

    # ------------------------------------------------------------------ life
    async def connect(self, timeout: float = 10.0) -> None:
        """Connect, make sure the streams exist, subscribe, start sending, and wait (up to
        ``timeout`` s) until the records already in JetStream have been delivered here."""
        import nats
        from nats.js.api import DeliverPolicy, DiscardPolicy, StorageType, StreamConfig

        try:  # the first connection is tried for ``timeout`` s; once up, it reconnects forever
            self._nc = await asyncio.wait_for(
                nats.connect(self.url, name=self.name, connect_timeout=min(timeout, 2.0),
                             max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                             error_cb=self._nats_error), timeout)
        except TimeoutError:
            raise ConnectionError(f"no NATS server answered at {self.url} within {timeout:g} s"
                                  ) from None
        self._js = self._nc.jetstream()
        cfg = StreamConfig(name=self.rec_stream, subjects=[f"{self.prefix}.r.>"],
                           max_msgs_per_subject=1, storage=StorageType.FILE,
                           discard=DiscardPolicy.OLD)
        await self._js.add_stream(cfg)  # the same config again is accepted as it is
        await self._js.add_stream(StreamConfig(
            name=self.snap_stream, subjects=[f"{self.prefix}.s.>"], max_msgs_per_subject=1,
            storage=StorageType.FILE, discard=DiscardPolicy.OLD))
        if (await self._js.stream_info(self.rec_stream)).state.messages == 0:
            self._caught_up.set()
        if (await self._js.stream_info(self.snap_stream)).state.messages == 0:
            self._snap_caught_up.set()
        # live first (held while joining), then the snapshots, then the records
        for subject in self._live_subjects():
            self._subs.append(await self._nc.subscribe(subject, cb=self._on_live))
        self._snap_sub = await self._js.subscribe(
            f"{self.prefix}.s.>", cb=self._on_snapshot, ordered_consumer=True,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT)
        self._subs.append(self._snap_sub)
        self._subs.append(await self._js.subscribe(
            f"{self.prefix}.r.>", cb=self._on_record, ordered_consumer=True,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT))
        self._sender = asyncio.create_task(self._send_loop(), name="nats:send")
        await self._join_validators(timeout)
        try:
            await asyncio.wait_for(self._snap_caught_up.wait(), timeout)
            await asyncio.wait_for(self._caught_up.wait(), timeout)
        except TimeoutError:
            raise ConnectionError(f"NATS {self.url}: the snapshots and records in JetStream "
                                  f"were not all delivered within {timeout:g} s") from None
        self._joining = False
        held, self._held = self._held, []
        for m in held:
            self._live(m)
        # joined: the snapshots' copies on the live subjects keep this process whole
        await self._snap_sub.unsubscribe()
        self._subs.remove(self._snap_sub)

    def receive_only(self, types: Iterable[str] | None) -> None:
        """Receive the column data (live batches and snapshots) of ``types`` only, from the
        next ``connect`` (None: every type, the default).  For a process whose engines read
        a few types and that serves no clients of the others (``--role engine implied``: the
        quotes and definitions, not the other engines' LiveImpliedQuote / surfaces;
        ``platform.column_types_read``).  Records are received whatever the types."""
        self._only = None if types is None else frozenset(types)

    def _only_tokens(self) -> frozenset[str]:
        return frozenset(subject_token(t) for t in self._only or ())

    def _live_subjects(self) -> list[str]:
        if self._only is None:
            return [f"{self.prefix}.c.>"]
        return [f"{self.prefix}.c.{subject_token(t)}.>" for t in sorted(self._only)]

    def snapshot_every(self, export: Export, seconds: float = 1.0, min_age_s: float = 0.0
                       ) -> None:
        """Send snapshots of what this process sent (module docstring) every ``seconds`` (wall
        time), from ``export`` (``Store.ticker_batches``), until ``close``; a (type, ticker)
        at most every ``min_age_s`` (``send_snapshots``)."""
        async def run() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    self.send_snapshots(export, min_age_s)
                except Exception:  # a snapshot that cannot be built must not end the loop
                    log.exception("NATS snapshots failed")
        self._snapper = asyncio.create_task(run(), name="nats:snapshots")

    def send_snapshots(self, export: Export, min_age_s: float = 0.0) -> int:
        """Queue a snapshot of each (type, ticker) sent on since the last call; how many.

        With ``min_age_s``, a (type, ticker) whose last snapshot is younger than that waits
        for a later call (a snapshot re-sends every live row of the ticker: on a busy ticker
        of many rows, once a second costs more than the live updates themselves).  The stored
        copy is published without waiting for JetStream's acknowledgement (the stream takes
        core NATS messages on its subjects too): a lost one is replaced by the next."""
        dirty, self._dirty = self._dirty, {}
        now = time.monotonic()
        if min_age_s > 0:
            for name, (mt, tickers) in list(dirty.items()):
                young = {tk for tk in tickers
                         if now - self._snapped.get((name, tk), -math.inf) < min_age_s}
                if young:  # not yet: kept for a later call
                    tickers -= young
                    self._dirty.setdefault(name, (mt, set()))[1].update(young)
        n = 0
        for name, (mt, tickers) in dirty.items():
            for tk, cols in export(mt, sorted(tickers)):
                self._snapped[(name, tk)] = now
                tok = subject_token(tk)
                seq = self._seq.get(f"{self.prefix}.c.{name}.{tok}", 0)
                pieces = split_rows(ColumnBatch(mt, cols, 0), self._max_bytes())
                for i, piece in enumerate(pieces):  # piece i of a ticker: its own subject
                    self._put(f"{self.prefix}.s.{name}.{tok}.{i}", piece, False, seq=seq)
                    # and in order with the live messages, for the processes already joined
                    self._put(f"{self.prefix}.c.{name}.{tok}", piece, False, seq=seq, snap=True)
                n += 1
        self.stats.snapshots += n
        return n

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far is sent (records acknowledged) and read by
        the server (``round_trip``)."""
        await asyncio.wait_for(self._queue.join(), timeout)
        await round_trip(self._nc, timeout)

    async def close(self, drain: bool = True) -> None:
        """Send what is queued (up to 5 s), then disconnect; with ``drain`` False (a fenced
        process: what it queued is of an older epoch) drop the queue and close at once."""
        if self._nc is None:
            return
        if drain:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), 5.0)
        for w in (self._watcher, *self._shared_watchers):
            if w is not None:
                with contextlib.suppress(Exception):  # the connection may be gone already
                    await w.stop()
        for task in (self._snapper, self._renewer, self._kv_task, self._sender):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if drain:
            await self._nc.drain()
        else:
            await self._nc.close()
        self._nc = None

    @property
    def queued(self) -> int:
        """Messages waiting to be sent."""
        return self._queue.qsize()

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    # ------------------------------------------------------------------ client posts
    def publish_durable(self, msg: Event) -> asyncio.Future[None]:
        """``publish`` a client post here (this process's validators and handlers, the same
        errors) and return a future done when JetStream acknowledged the record: its result
        is None, or it fails with ``NotDurable`` naming the reason."""
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ack.add_done_callback(_retrieved)
        self._post = (msg, ack)
        try:
            self.publish(msg)
        finally:
            if self._post is not None:  # refused before it was queued: nothing to wait for
                self._post = None
                ack.cancel()
        return ack

    def validated_elsewhere(self, name: str) -> bool:
        """Whether posts of ``name`` are checked by validators of another process only (an
        engine that does not run here registered them in ``<PREFIX>_VALID`` and renewed that
        within ``valid_ttl_s``).  A registration not renewed for that long is stale (its
        engine stopped for good): posts of ``name`` are then accepted without the check (said
        once at WARNING), until an engine registers again."""
        if self._validators.get(name):
            return False
        regs = self._remote_types.get(name)
        if not regs:
            return False
        now = time.monotonic()
        if any(now - t < self.valid_ttl_s for t in regs.values()):
            self._expired.discard(name)
            return True
        if name not in self._expired:
            self._expired.add(name)
            log.warning("NATS: the validators of %s (registered by %s) were not renewed for "
                        "%g s: their engine stopped; posts of %s are accepted unchecked",
                        name, ", ".join(sorted(regs)), self.valid_ttl_s, name)
        return False

    async def validate_remote(self, msg: Event) -> None:
        """Have the process that runs the validators of ``msg``'s type check it (NATS request
        on ``<prefix>.v.<MsgType>.<process id>`` to the newest registrant, asked again while
        none answers: ``_ask_validator``); raise ``PostRejected``
        with its reason, or when none answers within ``CHECK_WAIT_S``.  Nothing to do
        when the validators run here (``publish`` runs them) or nowhere."""
        name = msg.mt.name
        if not self.validated_elsewhere(name):
            return
        headers = {H_SRC: self.id}
        if msg.origin:
            headers[H_ORIGIN] = msg.origin
        reply = await self._ask_validator(name, encode_message(msg, time.time_ns()), headers)
        if reply.data != _ACCEPT:
            try:
                doc = json.loads(reply.data)
                result, detail = str(doc["result"]), str(doc["detail"])
            except (ValueError, KeyError, TypeError):
                result, detail = "Exception", f"unreadable validator answer {reply.data[:80]!r}"
            raise PostRejected(detail, result)

    async def _ask_validator(self, name: str, payload: bytes, headers: dict[str, str]) -> Any:
        """The validator's reply, asked of the process that registered ``name`` last (a
        standby that took over registers after the holder it replaced; ``_registrant``).
        Asked again while nobody answers, until ``CHECK_WAIT_S``: at once of the next
        registrant when a process has no responder (it died: the server dropped its
        subscription); after ``CHECK_TRY_S`` when it does not answer (paused, cut off, or
        slow); and at once of a process that registers the type while a request waits (a
        check that reached a dying holder is answered by the new one as soon as it took
        over).  Refused with the reason when the deadline passes."""
        import nats.errors

        loop = asyncio.get_running_loop()
        deadline = loop.time() + CHECK_WAIT_S
        why = "no process running its engine is connected to check it"
        while True:
            left = deadline - loop.time()
            if left <= 0.05:
                raise PostRejected(f"{name}: not accepted: {why}") from None
            changed = self._reg_event.setdefault(name, asyncio.Event())
            who = self._registrant(name)
            if who is None:  # every registrant gone: wait for one to register
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), left)
                continue
            request = asyncio.ensure_future(self._nc.request(
                f"{self.prefix}.v.{name}.{who}", payload, timeout=min(CHECK_TRY_S, left),
                headers=headers))
            waiter = asyncio.ensure_future(changed.wait())
            try:
                await asyncio.wait((request, waiter), return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            if not request.done():  # a process registered meanwhile: ask it now
                request.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await request
                self.stats.check_rerouted += 1
                continue
            try:
                return request.result()
            except nats.errors.NoRespondersError:
                why = "no process running its engine is connected to check it"
                self._gone.setdefault(name, set()).add(who)
            except (TimeoutError, nats.errors.TimeoutError):
                why = f"the engine process that checks it did not answer within {CHECK_WAIT_S:g} s"
            except Exception as e:  # disconnected, closed: the post cannot be checked
                raise PostRejected(f"{name}: not accepted: cannot ask the engine process that "
                                   f"checks it: {type(e).__name__}: {e}") from None
            self.stats.check_retries += 1

    def _registrant(self, name: str) -> str | None:
        """The process to ask to check a post of ``name``: of those whose registration is
        live and that had a responder since they registered, the one that registered last
        (first seen last here; a process joining orders the registrations it replays by
        their latest revision)."""
        regs, revs = self._remote_types.get(name, {}), self._reg_rev.get(name, {})
        gone = self._gone.get(name, set())
        now = time.monotonic()
        live = [w for w, seen in regs.items() if now - seen < self.valid_ttl_s and w not in gone]
        return max(live, key=lambda w: revs.get(w, 0), default=None)

    def add_validator(self, msg_name: str, fn: Validator, *, name: str | None = None
                      ) -> Callable[[], None]:
        """As ``InProcessBus.add_validator``; once connected, this process also answers the
        other processes' checks of ``msg_name`` (``validate_remote``)."""
        remove = super().add_validator(msg_name, fn, name=name)
        if self._nc is not None and msg_name not in self._served:
            task = asyncio.get_running_loop().create_task(self._serve_validators([msg_name]),
                                                          name=f"nats:validator {msg_name}")
            task.add_done_callback(_log_task_failure)
        return remove

    async def _join_validators(self, timeout: float) -> None:
        """Learn which types other processes validate (``<PREFIX>_VALID``, watched while
        connected) and answer for the validators of this process."""
        from nats.js.api import KeyValueConfig
        from nats.js.errors import BadRequestError

        try:  # entries older than the TTL leave the bucket (a stale one is not replayed)
            self._kv = await self._js.create_key_value(KeyValueConfig(
                bucket=self.valid_bucket, history=1, ttl=self.valid_ttl_s))
        except BadRequestError:  # made by a process with another TTL: use it as it is
            self._kv = await self._js.key_value(self.valid_bucket)
        self._watcher = await self._kv.watchall()
        while (entry := await self._watcher.updates(timeout)) is not None:
            self._registered(entry, replayed=True)
        self._kv_task = asyncio.create_task(self._watch_validators(), name="nats:validators")
        await self._serve_validators(list(self._validators))
        self._renewer = asyncio.create_task(self._renew_validators(), name="nats:renew validators")

    def _registered(self, entry: Any, replayed: bool = False) -> None:
        """A put (a registration or its renewal: key ``<MsgType>.<process id>``) or a delete
        in ``<PREFIX>_VALID``; one ``replayed`` when joining counts from when it was written
        (the server's time: the bucket drops entries older than the TTL only now and then)."""
        name, _, who = entry.key.partition(".")
        if entry.operation in ("DEL", "PURGE"):
            self._remote_types.get(name, {}).pop(who, None)
            self._reg_rev.get(name, {}).pop(who, None)
            return
        seen = time.monotonic()
        created = getattr(entry, "created", None)
        if replayed and isinstance(created, datetime):
            seen -= max(0.0, (datetime.now(UTC) - created).total_seconds())
        regs = self._remote_types.setdefault(name, {})
        new = who not in regs or who in self._gone.get(name, set())
        regs[who] = seen
        if new:  # a renewal keeps the order: a resumed, fenced holder does not come first
            self._reg_rev.setdefault(name, {})[who] = int(getattr(entry, "revision", 0) or 0)
        self._gone.get(name, set()).discard(who)
        if new and (changed := self._reg_event.pop(name, None)) is not None:
            changed.set()  # checks waiting for another registrant ask this one now

    async def _watch_validators(self) -> None:
        async for entry in self._watcher:
            if entry is not None:
                self._registered(entry)

    async def _renew_validators(self) -> None:
        """Write this process's registrations again every sixth of ``valid_ttl_s`` (they
        expire after it: a process that stopped for good does not keep its types refused)."""
        while True:
            await asyncio.sleep(self.valid_ttl_s / 6)
            for name in sorted(self._served):
                try:
                    await self._kv.put(f"{name}.{self.id}", self.name.encode())
                except Exception as e:  # disconnected: renewed at the next beat
                    log.error("NATS: renewing the registration of the validators of %s failed:"
                              " %s: %s", name, type(e).__name__, e)
                    break

    async def _serve_validators(self, names: list[str]) -> None:
        for name in names:
            if name in self._served or not self._validators.get(name):
                continue
            self._served.add(name)
            self._subs.append(await self._nc.subscribe(
                f"{self.prefix}.v.{name}.{self.id}", cb=self._on_validate))
            await self._kv.put(f"{name}.{self.id}", self.name.encode())

    async def _on_validate(self, m: Any) -> None:
        """Another process asks whether a client post passes this process's validators."""
        try:
            _t, msg = decode_message(m.data)
            if not isinstance(msg, Event):
                raise TypeError("not a record")
            origin = (m.headers or {}).get(H_ORIGIN, "")
            if origin:
                msg = replace(msg, origin=origin)
            self._validate(msg)
            out = _ACCEPT
        except PostRejected as e:
            out = json.dumps({"result": e.result, "detail": e.detail}).encode()
        except PublishFailed as e:  # a validator failed (logged and counted by _validate)
            out = json.dumps({"result": "Exception", "detail": str(e)}).encode()
        except Exception as e:  # a request this version cannot read
            log.error("NATS validation request on %s unreadable (%d bytes): %s: %s", m.subject,
                      len(m.data), type(e).__name__, e)
            out = json.dumps({"result": "ParseError",
                              "detail": f"unreadable by the engine process: {e}"}).encode()
        await m.respond(out)

    # ------------------------------------------------------------------ shared values
    async def put_shared(self, key: str, data: bytes) -> None:
        """Keep ``data`` (below the server's ``max_payload``) as the value of ``key`` in the
        JetStream KV bucket ``<PREFIX>_SHARED``, for every process of the platform (what no
        record carries: the market's security master)."""
        await (await self._shared_kv()).put(key, data)

    async def watch_shared(self, key: str) -> AsyncIterator[bytes]:
        """The value of ``key`` in ``<PREFIX>_SHARED`` now (if any), then each new one, until
        ``close``."""
        w = await (await self._shared_kv()).watch(key)
        self._shared_watchers.append(w)
        async for entry in w:
            if entry is not None and entry.value:  # None: the end of the current values
                yield entry.value

    async def _shared_kv(self) -> Any:
        if self._shared is None:
            self._shared = await self._js.create_key_value(bucket=self.shared_bucket, history=1)
        return self._shared

    # ------------------------------------------------------------------ notes
    def publish_note(self, topic: str, key: str, data: bytes) -> None:
        """Send ``data`` to every process as the note ``key`` of ``topic``: what no MLink
        record carries but the other processes need in order with the records (an auction's
        audience before its first AuctionNotice).  A note goes through ``<PREFIX>_REC`` on
        ``<prefix>.r._<topic>.<key>`` in the send queue's order, so every process (and one
        that joins later, replaying the stream) receives it before the records published
        after it here; the latest note of a key is kept.  Not delivered to this process."""
        if not re.fullmatch(r"[a-z][a-z0-9]*", topic):
            raise ValueError(f"note topic {topic!r}: lower-case letters and digits")
        subject = f"{self.prefix}.r._{topic}.{subject_token(key)}"
        try:
            self._queue.put_nowait((subject, data, {H_SRC: self.id}, True, None))
        except asyncio.QueueFull:
            self.stats.dropped += 1
            f = Failure("nats", RuntimeError(f"NATS send queue full ({self._queue.maxsize} "
                                             "messages): note not sent"), f"_{topic}", subject)
            self.failures += 1
            self.recent_failures.append(f)
            self.supervisor(f)

    def on_note(self, topic: str, fn: Callable[[str, bytes], None]) -> None:
        """Call ``fn(key, data)`` for each note of ``topic`` another process sends (and those
        in JetStream when this process joins), in order with the records."""
        self._note_handlers.setdefault(topic, []).append(fn)

    def _note(self, m: Any) -> bool:
        """A note (``<prefix>.r._<topic>.<key>``) given to its handlers; False: a record."""
        parts = m.subject.split(".", 3)
        if len(parts) < 4 or not parts[2].startswith("_"):
            return False
        if (m.headers or {}).get(H_SRC) == self.id:
            return True
        try:
            key = _untoken(parts[3])
        except ValueError as e:  # not made by subject_token: named, never handled
            log.error("NATS note on %s unreadable: %s", m.subject, e)
            self.stats.dropped += 1
            return True
        self.stats.received += 1
        for fn in self._note_handlers.get(parts[2][1:], ()):
            try:
                fn(key, m.data)
            except Exception as e:  # one handler's failure: counted, reported, not fatal
                f = Failure(handler_name(fn), e, parts[2], m.subject)
                self.failures += 1
                self.recent_failures.append(f)
                self.supervisor(f)
        return True

    # ------------------------------------------------------------------ sending
    def _accepted(self, msg: Message) -> None:
        """Validators passed: queue the message for NATS (before this process's handlers run,
        so the order of messages on NATS is the order of publishes here)."""
        if isinstance(msg, ColumnBatch):
            name = msg.mt.name
            dirty = self._dirty.get(name)
            if dirty is None:
                dirty = self._dirty[name] = (msg.mt, set())
            for tk, part in split_by_ticker(msg):
                subject = f"{self.prefix}.c.{name}.{subject_token(tk)}"
                dirty[1].add(tk)
                for piece in split_rows(part, self._max_bytes()):
                    seq = self._seq[subject] = self._seq.get(subject, 0) + 1
                    self._put(subject, piece, False, seq=seq)
            return
        pk = pkey_text(msg.mt, pkey_of(msg.mt, msg.rec))
        ack = None
        if self._post is not None and self._post[0] is msg:
            ack = self._post[1]
            self._post = None
        self._put(f"{self.prefix}.r.{msg.mt.name}.{subject_token(pk)}", msg, True, ack=ack)

    def _max_bytes(self) -> int:
        """Payload bytes a column batch piece aims at: 3/4 of the server's ``max_payload``."""
        limit = self._nc.max_payload if self._nc is not None else 1 << 20
        return int(limit * 3 // 4)

    def _put(self, subject: str, msg: Message, durable: bool, seq: int | None = None,
             snap: bool = False, ack: asyncio.Future[None] | None = None) -> None:
        headers = {H_SRC: self.id}
        if seq is not None:
            headers[H_SEQ] = str(seq)
        if snap:
            headers[H_SNAP] = "1"
        if isinstance(msg, Event) and msg.origin:
            headers[H_ORIGIN] = msg.origin
        try:
            self._queue.put_nowait((subject, encode_message(msg, time.time_ns()), headers,
                                    durable, ack))
        except asyncio.QueueFull:
            e = RuntimeError(f"NATS send queue full ({self._queue.maxsize} messages): not sent")
            if ack is not None and not ack.done():
                ack.set_exception(NotDurable(str(e)))
            self._lost(msg, subject, e)

    def send_durable(self, subject: str, payload: bytes, headers: Mapping[str, str]
                     ) -> asyncio.Future[None]:
        """Queue ``payload`` for JetStream on ``subject`` in order with the messages published
        here (an engine's journal, ``bus.JournalLog``); the future resolves once stored, or
        fails with ``NotDurable``."""
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ack.add_done_callback(_retrieved)
        try:
            self._queue.put_nowait((subject, payload, {H_SRC: self.id, **headers}, True, ack))
        except asyncio.QueueFull:
            ack.set_exception(NotDurable(f"NATS send queue full ({self._queue.maxsize} "
                                         "messages): not sent"))
        return ack

    def _lost(self, msg: Message, subject: str, e: BaseException) -> None:
        self.stats.dropped += 1
        f = Failure("nats", e, msg.mt.name, subject)
        self.failures += 1
        self.recent_failures.append(f)
        self.supervisor(f)

    async def _send_loop(self) -> None:
        while True:
            subject, payload, headers, durable, ack = await self._queue.get()
            try:
                if durable:
                    await self._js.publish(subject, payload, headers=headers)
                else:
                    await self._nc.publish(subject, payload, headers=headers)
                self.stats.sent += 1
                if ack is not None and not ack.done():
                    ack.set_result(None)
            except asyncio.CancelledError:
                if ack is not None and not ack.done():
                    ack.set_exception(NotDurable("the NATS bus closed before JetStream "
                                                 "acknowledged it"))
                raise
            except Exception as e:
                if ack is not None and not ack.done():
                    ack.set_exception(NotDurable(f"JetStream did not acknowledge it: "
                                                 f"{type(e).__name__}: {e}".rstrip(": ")))
                self.stats.dropped += 1
                f = Failure("nats", e, subject.split(".")[2], subject)
                self.failures += 1
                self.recent_failures.append(f)
                self.supervisor(f)
            finally:
                self._queue.task_done()

    # ------------------------------------------------------------------ receiving
    async def _on_record(self, m: Any) -> None:
        if not self._caught_up.is_set() and m.metadata.num_pending == 0:
            self._caught_up.set()
        if self._note(m):
            return
        await self._on_msg(m)

    async def _on_snapshot(self, m: Any) -> None:
        if not self._snap_caught_up.is_set() and m.metadata.num_pending == 0:
            self._snap_caught_up.set()
        headers = m.headers or {}
        src = headers.get(H_SRC, "")
        if src == self.id:
            return
        p, _s, rest = m.subject.rsplit(".", 1)[0].split(".", 2)
        if self._only is not None and rest.split(".", 1)[0] not in self._only_tokens():
            return
        key = (f"{p}.c.{rest}", src)
        seq = int(headers.get(H_SEQ, "0"))
        if seq < self._applied.get(key, 0):
            self.stats.stale += 1  # older than live messages applied: a later one will do
            return
        self._applied[key] = seq
        await self._on_msg(m)

    async def _on_live(self, m: Any) -> None:
        if self._joining:
            if len(self._held) >= self._queue_size:
                self.stats.dropped += 1
                log.error("NATS: more than %d live messages while joining; %s dropped",
                          self._queue_size, m.subject)
                return
            self._held.append(m)
            return
        self._live(m)

    def _live(self, m: Any) -> None:
        headers = m.headers or {}
        src = headers.get(H_SRC, "")
        if src == self.id:
            return
        key = (m.subject, src)
        seq = int(headers.get(H_SEQ, "0"))
        last = self._applied.get(key, 0)
        # a live message newer than what was applied; a snapshot copy not older than it (in
        # order with the live messages, it is the sender's whole state of the ticker)
        if seq < last or (seq == last and H_SNAP not in headers):
            self.stats.stale += 1
            return
        self._applied[key] = seq
        self._apply(m, headers)

    async def _on_msg(self, m: Any) -> None:
        headers = m.headers or {}
        if headers.get(H_SRC) == self.id:
            return
        self._apply(m, headers)

    def _apply(self, m: Any, headers: Mapping[str, str]) -> None:
        try:
            t_ns, msg = decode_message(m.data)
        except Exception as e:  # a payload this version cannot read: named, never applied
            log.error("NATS message on %s unreadable (%d bytes): %s: %s", m.subject,
                      len(m.data), type(e).__name__, e)
            self.stats.dropped += 1
            return
        self.stats.lag_ns = time.time_ns() - t_ns
        origin = headers.get(H_ORIGIN, "")
        if origin and isinstance(msg, Event):
            msg = replace(msg, origin=origin)
        self.stats.received += 1
        types = self.stats.received_types
        types[msg.mt.name] = types.get(msg.mt.name, 0) + 1
        try:
            self._deliver(msg)
        except PublishFailed as e:  # a client post of another process: its poster was
            for f in e.failures:    # answered there; here it is a server-side failure
                self.supervisor(f)

    async def _nats_error(self, e: Exception) -> None:
        log.error("NATS %s: %s: %s", self.url, type(e).__name__, e)

    def __repr__(self) -> str:
        return f"NatsBus({self.url!r}, prefix={self.prefix!r}, id={self.id[:8]})"


async def round_trip(nc: Any, timeout: float = 10.0) -> None:
    """Return once the server has read every command the nats-py connection ``nc`` wrote
    before (its subscriptions, its publishes).  ``nc.flush()`` does not say that: nats-py
    (2.16) writes the PING straight to the socket, ahead of the commands still waiting for its
    flusher task, so the PONG can come back before the server read a subscription made just
    before it, and a request another connection sends then finds no responder (measured:
    subscribe + flush, then a request from a second connection: no responders 8 times in
    4,000 at load 17-18; 0 in 2,000 with this).  A message to an inbox of ``nc`` subscribed
    now travels behind them on the connection, and the server reads a connection in order."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    try:
        await nc.publish(inbox, b"")
        await sub.next_msg(timeout)
    finally:
        with contextlib.suppress(Exception):  # the connection may be gone meanwhile
            await sub.unsubscribe()


def _untoken(tok: str) -> str:
    """The text of a subject token (``subject_token`` undone)."""
    if tok == "%":
        return ""
    out = bytearray()
    i = 0
    while i < len(tok):
        if tok[i] == "%":
            out.append(int(tok[i + 1:i + 3], 16))
            i += 3
        else:
            out += tok[i].encode()
            i += 1
    return out.decode()


#: a remote validator's answer to a post it accepts
_ACCEPT = b"OK"


def _retrieved(fut: asyncio.Future[None]) -> None:
    """Mark a post's ack failure as seen (the gateway may have answered the post already)."""
    if not fut.cancelled():
        fut.exception()


def _log_task_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("NATS task %s failed", task.get_name(), exc_info=task.exception())
