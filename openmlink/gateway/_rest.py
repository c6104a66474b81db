"""The MLink REST API (spec section 4), sans I/O.

``RestApi.handle(method, params, headers, body)`` returns ``(status, bytes)``: a JSON array of
envelopes whose last element is always a ``QueryResult``. The HTTP server only moves bytes.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
import numpy as np
import orjson

from ..bus import POST_TIMEOUT_S, Bus, Event, NatsBus, NotDurable, PublishFailed
from ..clock import Clock
from ..errors import PostRejected
from ..query import (
    BAnd,
    Bound,
    QueryError,
    WhereError,
    aggregate,
    compile_predicate,
    compile_where,
    order_rows,
    parse_limit,
    parse_order,
    parse_view,
    where_mask,
)
from ..schema import (
    ADMIN_ACTIONS,
    KeyError_,
    MsgType,
    RecordError,
    Registry,
    datetime_to_text,
    decode_record,
    encode_message,
    envelope,
    parse_pkey,
    pkey_of,
    pkey_text,
    split_pkey,
)
from ..store import Store, Table
from ._auth import ApiKeys, AuthError, Principal, bearer_token
from ._encode import EncoderCache
from ._frames import FrameError, frame_envelopes, jsonf_messages
from ._meta import field_desc_records, msg_desc_records
from ._visibility import firm_field, visible

__all__ = ["RestApi", "RestConfig"]

#: parameter aliases (spec 4.1); names are matched case-insensitively
ALIASES = {"c": "cmd", "mt": "msgtype", "pk": "pkey", "l": "limit", "v": "view", "w": "where"}
COMMANDS = ("getmsgtypes", "getschema", "getmsg", "getmsgs", "getcount", "getaggregate",
            "postmsgs")
_POST_ACTIONS = {"I": "Insert", "U": "Update", "R": "Replace", "D": "Delete"}
#: envelope headers of the replies (``schema.envelope``'s, built once)
_POST_ACK = {"mTyp": "PostAck"}
_QUERY_RESULT = {"mTyp": "QueryResult"}
#: PostAckResult names a validator may give (schema enum PostAckResult)
_ACK_RESULTS = ("InvldMsgType", "AuthError", "Exception", "ParseError", "OtherError")


class RestConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """REST limits (``config.validated`` checks the bounds)."""

    limit_default: Annotated[int, msgspec.Meta(ge=1)] = 500
    limit_cap: Annotated[int, msgspec.Meta(ge=1)] = 100_000
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1)] = 16 * 1024 * 1024
    max_post_messages: Annotated[int, msgspec.Meta(ge=1)] = 10_000


#: most parameters a form-encoded POST body may carry
MAX_FORM_FIELDS = 1000
_FORM = "application/x-www-form-urlencoded"


def _is_form(headers: Mapping[str, str]) -> bool:
    for k, v in headers.items():
        if k.lower() == "content-type":
            return v.split(";", 1)[0].strip().lower() == _FORM
    return False


def _form_params(body: bytes) -> list[tuple[str, str]]:
    """The parameters of a form-encoded POST body (the same ones a GET URL carries)."""
    try:
        text = body.decode("ascii")
        return urllib.parse.parse_qsl(text, keep_blank_values=True, encoding="utf-8",
                                      errors="strict", max_num_fields=MAX_FORM_FIELDS)
    except UnicodeDecodeError as e:
        raise _Fail("Error", f"body: form data is not percent-encoded UTF-8 ({e.reason} at "
                             f"byte {e.start})") from None
    except ValueError as e:  # more than MAX_FORM_FIELDS
        raise _Fail("Error", f"body: {e}") from None


class _Fail(Exception):
    def __init__(self, result: str, detail: str, status: int = 200) -> None:
        super().__init__(detail)
        self.result = result
        self.detail = detail
        self.status = status


def _unframe(body: bytes, reg: Registry) -> bytes:
    """A ``/rest/jsonf`` body (framed messages) as the JSON array ``postmsgs`` reads. Each
    framed message must hold one JSON document (two joined by a comma would otherwise pass as
    two messages), and a message number other than 00000 must be that of its ``header.mTyp``
    (as on /mlink/jsonf); (inferred) either fault refuses the whole body, as a bad header does."""
    payloads = []
    try:
        for i, (num, payload) in enumerate(jsonf_messages(body)):
            try:
                doc = orjson.loads(payload)
            except orjson.JSONDecodeError as e:
                raise _Fail("Error", f"body: framed message {i}: not one JSON document ({e})") from None
            if num:
                head = doc.get("header") if isinstance(doc, dict) else None
                name = head.get("mTyp") if isinstance(head, dict) else None
                mt = reg.get(name) if isinstance(name, (str, int)) else None
                if mt is None or mt.id != num:
                    raise _Fail("Error", f"body: framed message {i}: frame header message number "
                                         f"{num:05d} is not that of header.mTyp {name!r}"
                                         + (f" ({mt.id:05d})" if mt is not None else ""))
            payloads.append(payload)
    except FrameError as e:
        raise _Fail("Error", f"body: frame header: {e}") from None
    return b"[" + b",".join(payloads) + b"]"


@dataclass(slots=True)
class _Post:
    """A checked client post, ready to publish."""

    event: Event
    pk_text: str
    sent: int


class RestApi:
    """REST requests answered from the tables (module docstring).  On a ``NatsBus``
    (``durable``) posts are answered by ``handle_async`` / ``post_record``'s future, once
    JetStream acknowledged them: the synchronous ``handle`` refuses ``postmsgs`` there."""

    def __init__(self, reg: Registry, store: Store, bus: Bus, keys: ApiKeys, clock: Clock,
                 config: RestConfig | None = None) -> None:
        self.reg = reg
        self.store = store
        self.bus = bus
        self.keys = keys
        self.clock = clock
        self.config = config or RestConfig()
        self.encoders = EncoderCache()  # shared with the WebSocket hub: encode once
        self._msgdesc = reg["MsgDesc"]
        self._fielddesc = reg["FieldDesc"]
        self._next_id = int.from_bytes(np.random.default_rng().bytes(6), "big") << 12
        #: the distributed bus whose posts are awaited until durable (None: in-process)
        self.durable: NatsBus | None = bus if isinstance(bus, NatsBus) else None

    # ---------------------------------------------------------------- entry point
    def handle(self, method: str, params: Sequence[tuple[str, str]],
               headers: Mapping[str, str], body: bytes | None, framed: bool = False) -> tuple[int, bytes]:
        """Answer one request. ``body`` is None when the HTTP layer refused to read a body
        over ``config.max_body_bytes``. ``framed`` (``/rest/jsonf``): the body holds framed
        messages and the answer is the messages, each after its frame header (spec 1.3)."""
        t0 = time.perf_counter()
        recv = self.clock.time_ns()
        parts: list[bytes] = []
        scanned = 0
        result, detail, status = "Ok", "", 200
        try:
            p, who, cmd, body = self._request(method, params, headers, body, framed)
            if cmd == "postmsgs":
                if self.durable is not None:
                    raise RuntimeError("RestApi.handle: posts on a NATS bus are answered by "
                                       "handle_async (after the JetStream ack)")
                parts, detail = self._postmsgs(p, body, who)
            else:
                parts, scanned, detail = getattr(self, "_" + cmd)(p, who)
        except _Fail as e:
            result, detail, status = e.result, e.detail, e.status
            parts = []
        except (QueryError, WhereError, RecordError, KeyError_) as e:
            result, detail, parts = "Error", str(e), []
        return status, self._reply(parts, result, detail, scanned, t0, recv, framed)

    async def handle_async(self, method: str, params: Sequence[tuple[str, str]],
                           headers: Mapping[str, str], body: bytes | None, framed: bool = False
                           ) -> tuple[int, bytes]:
        """``handle`` on a ``durable`` bus: a post's ``OK`` only once JetStream acknowledged
        its record (``postmsgs`` awaits the acks; every other command as ``handle``)."""
        t0 = time.perf_counter()
        recv = self.clock.time_ns()
        parts: list[bytes] = []
        result, detail, status = "Ok", "", 200
        try:
            p, who, cmd, data = self._request(method, params, headers, body, framed)
            if cmd != "postmsgs" or self.durable is None:
                return self.handle(method, params, headers, body, framed)
            parts, detail = await self._postmsgs_durable(p, data, who)
        except _Fail as e:
            result, detail, status = e.result, e.detail, e.status
            parts = []
        except (QueryError, WhereError, RecordError, KeyError_) as e:
            result, detail, parts = "Error", str(e), []
        return status, self._reply(parts, result, detail, 0, t0, recv, framed)

    def _request(self, method: str, params: Sequence[tuple[str, str]],
                 headers: Mapping[str, str], body: bytes | None, framed: bool
                 ) -> tuple[dict[str, str], Principal, str, bytes]:
        """The parameters, the caller, the command and the body of a request (``_Fail``)."""
        if body is not None and method.upper() == "POST" and _is_form(headers):
            form = _form_params(body)
            if any(k.lstrip()[:1] in ("[", "{") for k, _v in form):  # JSON sent as form data
                raise _Fail("Error", "body: JSON messages sent as form data (Content-Type "
                                     f"{_FORM}, as curl -d sends them); send them with "
                                     "Content-Type application/json")
            params = [*params, *form]  # body parameters win over the URL's
            body = b""
        p: dict[str, str] = {}
        for k, v in params:
            lk = k.lower()
            p[ALIASES.get(lk, lk)] = v
        who = self._auth(p, headers)
        cmd = p.get("cmd", "").strip().lower()
        if not cmd:
            raise _Fail("Error", f"cmd: required (one of {', '.join(COMMANDS)})")
        if cmd not in COMMANDS:
            raise _Fail("Error", f"cmd: unknown command '{p['cmd']}' (one of {', '.join(COMMANDS)})")
        if body is None:
            raise _Fail("Error", f"body: exceeds the limit of {self.config.max_body_bytes} "
                                 "bytes", 413)
        if cmd == "postmsgs":
            if method.upper() != "POST":
                raise _Fail("Error", "postmsgs: use HTTP POST with the messages in the body")
            if framed:
                body = _unframe(body, self.reg)
        return p, who, cmd, body

    def refusal(self, result: str, detail: str) -> bytes:
        """The body of a request refused before it reached a command (routing, limits, a
        request aiohttp could not parse): ``[QueryResult]`` in the protocol's own form."""
        return self._reply([], result, detail, 0, time.perf_counter(), self.clock.time_ns())

    def _reply(self, parts: list[bytes], result: str, detail: str, scanned: int, t0: float,
               recv: int, framed: bool = False) -> bytes:
        # the QueryResult's fields in their order, those that are 0 or empty left out
        qr: dict[str, Any] = {}
        if parts:
            qr["numBytesSent"] = sum(map(len, parts)) + len(parts) - 1
            qr["numMessagesSent"] = len(parts)
        if scanned:
            qr["numMessagesScanned"] = scanned
        elapsed = time.perf_counter() - t0
        if elapsed:
            qr["queryElapsed"] = elapsed
        if result:
            qr["result"] = result
        if detail:
            qr["detail"] = detail
        qr["receiveTimestamp"] = datetime_to_text(recv)
        qr["sendTimestamp"] = datetime_to_text(self.clock.time_ns())
        tail = orjson.dumps({"header": _QUERY_RESULT, "message": qr})
        if framed:
            return frame_envelopes([*parts, tail], self.reg)
        if not parts:
            return b"[" + tail + b"]"
        return b"[" + b",".join(parts) + b"," + tail + b"]"

    def _auth(self, p: Mapping[str, str], headers: Mapping[str, str]) -> Principal:
        bearer = None
        for k, v in headers.items():
            if k.lower() == "authorization":
                bearer = bearer_token(v)
        try:
            return self.keys.authenticate(bearer, p.get("apikey"))
        except AuthError as e:
            raise _Fail("AuthError", str(e), 401) from None

    def _msgtype(self, p: Mapping[str, str], who: Principal) -> MsgType:
        name = p.get("msgtype", "").strip()
        if not name:
            raise _Fail("Error", "msgType: required")
        mt = self.reg.get(name)
        if mt is None:
            raise _Fail("Error", f"msgType: unknown message type '{name}'")
        if not who.may_see(mt.token):
            raise _Fail("TokenError", f"msgType: {mt.name} needs token {mt.token}")
        return mt

    # ---------------------------------------------------------------- reads
    def _encode_rows(self, t: Table, mt: MsgType, rows: np.ndarray, view: frozenset[str] | None
                     ) -> list[bytes]:
        return self.encoders.get(mt, view).encode(t, rows)

    def _where(self, mt: MsgType, text: str | None, who: Principal) -> tuple[Table, Bound | None]:
        """Compile a where clause with the caller's visibility, and get the (refreshed) table."""
        bound = visible(mt, compile_where(mt, text), who, self.store)
        return self.store.prepare(mt, bound, who), bound

    def _select(self, mt: MsgType, where: str | None, pkey: str | None, who: Principal
                ) -> tuple[Table, np.ndarray]:
        t, bound = self._where(mt, where, who)
        if pkey is not None and pkey.strip():
            bound_pk = self._pkey_bound(mt, pkey)
            if bound_pk is not None:
                bound = bound_pk if bound is None else BAnd((bound_pk, bound))
        if bound is None:
            return t, t.live_rows()
        # masks over whole columns (no gather), then the live rows among them
        mask = where_mask(t, bound)
        mask &= t.alive[: t.n]
        return t, np.flatnonzero(mask)

    def _pkey_bound(self, mt: MsgType, text: str):  # type: ignore[no-untyped-def]
        """A pkey parameter on getmsgs as a where clause over the key fields (partial ok)."""
        if not mt.pkey:
            raise _Fail("Error", f"pkey: {mt.name} has no primary key")
        parts = split_pkey(mt, text, "pkey", partial=True)
        clauses = [f"{f.name}:eq:{v}" for f, v in zip(mt.pkey_fields, parts, strict=False)
                   if v.strip()]
        return compile_where(mt, " & ".join(clauses)) if clauses else None

    def _getmsgs(self, p: Mapping[str, str], who: Principal) -> tuple[list[bytes], int, str]:
        mt = self._msgtype(p, who)
        view = parse_view(mt, p.get("view"))
        terms = parse_order(mt, p.get("order"))
        limit = parse_limit(p.get("limit"), self.config.limit_default, self.config.limit_cap)
        t, rows = self._select(mt, p.get("where"), p.get("pkey"), who)
        if terms:
            rows = order_rows(t, mt, rows, terms)
        detail = ""
        if len(rows) > limit:
            detail = f"limit {limit} reached: {len(rows)} records matched"
        return self._encode_rows(t, mt, rows[:limit], view), len(t), detail

    def _getmsg(self, p: Mapping[str, str], who: Principal) -> tuple[list[bytes], int, str]:
        mt = self._msgtype(p, who)
        text = p.get("pkey", "")
        if not text.strip():
            raise _Fail("Error", "pkey: required for getmsg")
        if not mt.pkey:
            raise _Fail("Error", f"pkey: {mt.name} has no primary key")
        pk = parse_pkey(mt, text, "pkey")
        view = parse_view(mt, p.get("view"))
        t, bound = self._where(mt, p.get("where"), who)
        rec = t.get(pk)
        if rec is None or not compile_predicate(mt, bound)(rec):
            return [], 1 if rec is not None else 0, ""
        return [orjson.dumps(envelope(mt.name, encode_message(mt, rec, view)))], 1, ""

    def _getcount(self, p: Mapping[str, str], who: Principal) -> tuple[list[bytes], int, str]:
        mt = self._msgtype(p, who)
        t, bound = self._where(mt, p.get("where"), who)
        if bound is None:
            n = len(t)
        else:
            n = int(np.count_nonzero(where_mask(t, bound) & t.alive[: t.n]))
        # a zero count is said explicitly (other outputs leave defaults out)
        return [orjson.dumps(envelope("MLinkCount", {"count": n}))], len(t), ""

    def _getaggregate(self, p: Mapping[str, str], who: Principal) -> tuple[list[bytes], int, str]:
        mt = self._msgtype(p, who)
        measure = p.get("measure", "")
        if not measure.strip():
            raise _Fail("Error", "measure: required for getaggregate ('|' list of fields)")
        t, rows = self._select(mt, p.get("where"), None, who)
        out, detail = aggregate(t, mt, rows, measure, p.get("group"))
        return [orjson.dumps(envelope(name, body)) for name, body in out], len(t), detail

    def _getmsgtypes(self, p: Mapping[str, str], who: Principal) -> tuple[list[bytes], int, str]:
        recs = [r for r in msg_desc_records(self.reg) if who.may_see(str(r.get("_token")))]
        return self._meta_reply(self._msgdesc, recs, p)

    def _getschema(self, p: Mapping[str, str], who: Principal) -> tuple[list[bytes], int, str]:
        mt = self._msgtype(p, who)
        return self._meta_reply(self._fielddesc, field_desc_records(mt), p)

    def _meta_reply(self, meta: MsgType, recs: list[dict[str, Any]], p: Mapping[str, str]
                    ) -> tuple[list[bytes], int, str]:
        view = parse_view(meta, p.get("view"))
        pred = compile_predicate(meta, compile_where(meta, p.get("where")))
        out = [orjson.dumps(envelope(meta.name, encode_message(meta, r, view)))
               for r in recs if pred(r)]
        return out, len(recs), ""

    # ---------------------------------------------------------------- writes
    def _postmsgs(self, p: Mapping[str, str], body: bytes, who: Principal) -> tuple[list[bytes], str]:
        action, merge, msgs = self._post_body(p, body)
        acks = [self._post_one(i, m, action, merge, who) for i, m in enumerate(msgs)]
        return [orjson.dumps({"header": _POST_ACK, "message": a}) for a in acks], ""

    async def _postmsgs_durable(self, p: Mapping[str, str], body: bytes, who: Principal
                                ) -> tuple[list[bytes], str]:
        """``postmsgs`` on a NATS bus: each message checked (by the engine process that owns
        its validators, if elsewhere) and published in order; the answers wait for the
        JetStream acks, all in flight together."""
        action, merge, msgs = self._post_body(p, body)
        acks: list[dict[str, Any] | asyncio.Future[dict[str, Any]]] = []
        for i, m in enumerate(msgs):
            post = self._check_post(i, m, action, merge, who)
            acks.append(post if isinstance(post, dict) else await self._publish_durable(post))
        done = [a if isinstance(a, dict) else await a for a in acks]
        return [orjson.dumps(envelope("PostAck", a)) for a in done], ""

    def _post_body(self, p: Mapping[str, str], body: bytes) -> tuple[str, bool, list[Any]]:
        action = p.get("postaction", "").strip().upper()
        if not action:
            raise _Fail("Error", "postaction: required (I, U, R or D)")
        if action not in _POST_ACTIONS:
            raise _Fail("Error", f"postaction: '{p['postaction']}' is not I, U, R or D")
        merge_text = p.get("postmerge", "").strip().upper()
        if merge_text not in ("", "Y", "N", "YES", "NO"):
            raise _Fail("Error", f"postmerge: '{p['postmerge']}' is not Y or N")
        # (inferred) an update merges unless told not to; insert/replace write whole records
        merge = merge_text.startswith("Y") if merge_text else action == "U"
        if len(body) > self.config.max_body_bytes:
            raise _Fail("Error", f"body: {len(body)} bytes exceeds the limit of "
                                 f"{self.config.max_body_bytes} bytes")
        if not body.strip():
            raise _Fail("Error", "body: empty; send a JSON array of messages or one message")
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise _Fail("Error", f"body: invalid JSON ({e})") from None
        msgs = doc if isinstance(doc, list) else [doc]
        if len(msgs) > self.config.max_post_messages:
            raise _Fail("Error", f"body: {len(msgs)} messages exceeds the limit of "
                                 f"{self.config.max_post_messages}")
        return action, merge, msgs

    def post_record(self, env: Any, who: Principal
                    ) -> dict[str, Any] | asyncio.Future[dict[str, Any]]:
        """Insert one envelope as ``postmsgs`` with ``postaction=I`` would (WebSocket uploads):
        the PostAck, or on a ``durable`` bus a future of it (done after the JetStream ack)."""
        if self.durable is None:
            return self._post_one(0, env, "I", False, who)
        post = self._check_post(0, env, "I", False, who)
        if isinstance(post, dict):
            return post

        async def run(post: _Post) -> dict[str, Any]:
            ack = await self._publish_durable(post)
            return ack if isinstance(ack, dict) else await ack
        return asyncio.ensure_future(run(post))

    def _ack(self, msg_type: int, result: str, detail: str = "", pkey: str = "",
             sent_ts: int = 0) -> dict[str, Any]:
        a: dict[str, Any] = {}
        if msg_type:
            a["msgType"] = msg_type
        if sent_ts:
            a["sendTs"] = sent_ts
        if pkey:
            a["pkey"] = pkey
        if result:
            a["result"] = result
        if detail:
            a["detail"] = detail
        return a

    def _post_one(self, i: int, env: Any, action: str, merge: bool, who: Principal
                  ) -> dict[str, Any]:
        post = self._check_post(i, env, action, merge, who)
        return post if isinstance(post, dict) else self._publish(post)

    def _check_post(self, i: int, env: Any, action: str, merge: bool, who: Principal
                    ) -> dict[str, Any] | _Post:
        """The checks of one posted message that need no engine: its PostAck if it fails
        one, else the record to publish."""
        path = f"$[{i}]"
        if not isinstance(env, dict):
            return self._ack(0, "ParseError", f"{path}: expected an object with header and message")
        header = env.get("header")
        if not isinstance(header, dict) or not isinstance(header.get("mTyp"), (str, int)):
            return self._ack(0, "ParseError", f"{path}.header.mTyp: required (the message type)")
        mt = self.reg.get(header["mTyp"] if isinstance(header["mTyp"], int) else str(header["mTyp"]))
        if mt is None:
            return self._ack(0, "InvldMsgType",
                             f"{path}.header.mTyp: unknown message type '{header['mTyp']}'")
        if not who.may_see(mt.token):
            return self._ack(mt.id, "AuthError", f"{mt.name} needs token {mt.token}")
        verb = _POST_ACTIONS[action]
        if verb not in mt.actions and not (who.admin and action in ADMIN_ACTIONS.get(mt.name, "")):
            allowed = ", ".join(sorted(mt.actions))
            return self._ack(mt.id, "AuthError",
                             f"{mt.name} is published by the server; clients may not "
                             f"{verb.lower()} it (allowed: {allowed})")
        if "message" not in env:
            return self._ack(mt.id, "ParseError", f"{path}.message: required")
        try:
            rec = decode_record(mt, env["message"], path=f"{path}.message")
        except RecordError as e:
            return self._ack(mt.id, "ParseError", str(e))
        cf = firm_field(mt)  # clientFirm, else riskFirm (SpdrRiskGroupControl)
        if cf is not None and who.client_firm is not None:
            posted = rec.get(cf.name, "")
            if posted and posted != who.client_firm:
                return self._ack(mt.id, "AuthError",
                                 f"{path}.message.{cf.name}: '{posted}' is not your client firm")
            rec[cf.name] = who.client_firm
        table = self.store.table(mt)
        if mt.auto_pkey and action == "I":
            f = mt.pkey_fields[0]
            self._next_id += 1
            rec[f.name] = self._next_id
        missing = [f.name for f in mt.pkey_fields
                   if f.kind in ("TickerKey", "ExpiryKey", "OptionKey") and rec.get(f.name) is None]
        if missing:
            return self._ack(mt.id, "ParseError",
                             f"{path}.message.pkey: missing key field(s) {', '.join(missing)}")
        pk = pkey_of(mt, rec)
        pk_text = pkey_text(mt, pk)
        if action in ("U", "D") and table.row_of(pk) is None:
            what = "update" if action == "U" else "delete"
            return self._ack(mt.id, "OtherError", f"no {mt.name} with pkey {pk_text} to {what}",
                             pk_text)
        sent = self.clock.time_ns()
        kind = "delete" if action == "D" else "upsert"
        return _Post(Event(mt, kind, rec, sent, merge and kind == "upsert", who.origin), pk_text,
                     sent)

    def _publish(self, post: _Post) -> dict[str, Any]:
        """Publish a checked post on the in-process bus: its PostAck."""
        try:
            self.bus.publish(post.event)
        except (PostRejected, PublishFailed) as e:
            return self._refused(post, e)
        return self._ack(post.event.mt.id, "OK", "", post.pk_text, post.sent)

    def _refused(self, post: _Post, e: PostRejected | PublishFailed) -> dict[str, Any]:
        mt = post.event.mt
        if isinstance(e, PostRejected):  # a validator refused it: nothing stored, no handler ran
            # (result OK: the validator carried the post out itself, ``PostRejected``)
            result = e.result if e.result in _ACK_RESULTS or e.result == "OK" else "OtherError"
            return self._ack(mt.id, result, e.detail, post.pk_text, post.sent)
        # a handler failed (logged by the bus with its context)
        state = "stored" if e.stored else "not stored"
        return self._ack(mt.id, "Exception", f"{state}; {e}", post.pk_text, post.sent)

    async def _publish_durable(self, post: _Post
                               ) -> dict[str, Any] | asyncio.Future[dict[str, Any]]:
        """Check a post with its engine's validators (``NatsBus.validate_remote``), publish it:
        its PostAck if refused, else a future of it done once JetStream acknowledged it (at
        most ``POST_TIMEOUT_S`` later)."""
        bus = self.durable
        assert bus is not None
        try:
            await bus.validate_remote(post.event)
            ack = bus.publish_durable(post.event)
        except (PostRejected, PublishFailed) as e:
            return self._refused(post, e)
        return asyncio.ensure_future(self._durable_ack(post, ack))

    async def _durable_ack(self, post: _Post, ack: asyncio.Future[None]) -> dict[str, Any]:
        mt = post.event.mt
        try:
            await asyncio.wait_for(asyncio.shield(ack), POST_TIMEOUT_S)
        except TimeoutError:
            return self._ack(mt.id, "Exception", f"applied here but not acknowledged by "
                             f"JetStream within {POST_TIMEOUT_S:g} s (NATS connected: "
                             f"{'yes' if self.durable and self.durable.connected else 'no'}); "
                             "it stays queued for JetStream", post.pk_text, post.sent)
        except NotDurable as e:
            return self._ack(mt.id, "Exception", f"applied here but not durable: {e}",
                             post.pk_text, post.sent)
        return self._ack(mt.id, "OK", "", post.pk_text, post.sent)
