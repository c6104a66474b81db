"""Synchronous REST client (``/rest/json``): plain HTTP, standard library only."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ._errors import MLinkConnectionError, MLinkError
from ._records import Record, to_frame
from ._urls import Endpoint

if TYPE_CHECKING:
    import pandas

__all__ = ["MLinkClient", "Reply"]

_POST_ACTIONS = {"I", "U", "R", "D"}


class Reply:
    """One REST reply: the records before the ``QueryResult`` (each ``(mTyp, message)``) and
    the ``QueryResult`` body itself."""

    def __init__(self, items: list[tuple[str, Record]], result: Record) -> None:
        self.items = items
        self.result = result

    def records(self, mtyp: str | None = None) -> list[Record]:
        """The message bodies (of type ``mtyp`` only, when given)."""
        return [m for t, m in self.items if mtyp is None or t == mtyp]


class MLinkClient:
    """A synchronous client of one MLink server's REST API.

    >>> ml = MLinkClient("http://127.0.0.1:8080", "XXXX-XXXX-XXXX-XXXX")
    >>> ml.get_msgs_df("LiveImpliedQuote", where="ticker:eq:SPY-NMS-EQT", limit=100)

    Every call raises ``MLinkError`` when the ``QueryResult`` is not ``Ok`` (its ``detail`` names
    the parameter and the problem) and ``MLinkConnectionError`` when the server cannot be reached.
    The key goes in an ``Authorization: Bearer`` header (both MLink and openmlink accept it)."""

    def __init__(self, url: str, key: str, *, timeout: float = 60.0) -> None:
        self.endpoint = Endpoint(url)
        self.key = key
        self.timeout = timeout

    # ------------------------------------------------------------------ transport
    def request(self, params: Mapping[str, object], body: object | None = None) -> Reply:
        """Send one REST command (``params`` as the query string, ``body`` JSON-encoded and
        POSTed when given) and return its reply; raise ``MLinkError`` unless the
        ``QueryResult`` is ``Ok``."""
        query = urlencode({k: str(v) for k, v in params.items() if v is not None})
        url = f"{self.endpoint.rest()}?{query}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method="GET" if data is None else "POST",
                                     headers={"Authorization": f"Bearer {self.key}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:  # 401 and other statuses still carry a QueryResult
            raw = e.read()
            e.close()
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise MLinkConnectionError(f"{self.endpoint.rest()}: {reason}") from e
        reply = _parse_reply(raw, url)
        result = reply.result.get("result", "None")
        if result != "Ok":
            raise MLinkError(str(result), str(reply.result.get("detail", "")))
        return reply

    # ------------------------------------------------------------------ commands
    def get_msgs(self, msg_type: str, *, where: str | None = None, view: str | None = None,
                 order: str | None = None, limit: int | None = None, pkey: str | None = None
                 ) -> list[Record]:
        """``getmsgs``: the records of ``msg_type`` matching ``where`` (MLink query language),
        sorted by ``order``, at most ``limit`` (the server's default 500 when None)."""
        return self.request({"cmd": "getmsgs", "msgType": msg_type, "where": where, "view": view,
                             "order": order, "limit": limit, "pkey": pkey}).records(msg_type)

    def get_msgs_df(self, msg_type: str, **query: Any) -> pandas.DataFrame:
        """``get_msgs`` as a DataFrame with flattened keys (``okey_tk``, ``okey_xx`` ...)."""
        return to_frame(self.get_msgs(msg_type, **query))

    def get_msg(self, msg_type: str, pkey: str, *, view: str | None = None) -> Record | None:
        """``getmsg``: the record with the flat key ``pkey`` (``SPY-NMS-EQT-2025-07-18-500-C``,
        composite keys joined by ``|``), or None when there is none."""
        recs = self.request({"cmd": "getmsg", "msgType": msg_type, "pkey": pkey,
                             "view": view}).records(msg_type)
        return recs[0] if recs else None

    def count(self, msg_type: str, *, where: str | None = None) -> int:
        """``getcount``: how many records of ``msg_type`` match ``where``."""
        recs = self.request({"cmd": "getcount", "msgType": msg_type, "where": where}
                            ).records("MLinkCount")
        if not recs:
            raise MLinkError("Error", "getcount reply holds no MLinkCount record")
        return int(recs[0].get("count", 0))

    def aggregate(self, msg_type: str, measure: str, *, group: str | None = None,
                  where: str | None = None) -> dict[str, list[Record]]:
        """``getaggregate``: the reply's records by type (``AggregateNumeric``,
        ``AggregateString``, ``AggregateCount``, ``BucketRange``)."""
        reply = self.request({"cmd": "getaggregate", "msgType": msg_type, "measure": measure,
                              "group": group, "where": where})
        out: dict[str, list[Record]] = {}
        for t, m in reply.items:
            out.setdefault(t, []).append(m)
        return out

    def schema(self, msg_type: str) -> list[Record]:
        """``getschema``: one ``FieldDesc`` per field of ``msg_type``, in position order."""
        return self.request({"cmd": "getschema", "msgType": msg_type}).records("FieldDesc")

    def msg_types(self, *, view: str | None = None, where: str | None = None) -> list[Record]:
        """``getmsgtypes``: one ``MsgDesc`` per message type this key may read."""
        return self.request({"cmd": "getmsgtypes", "view": view, "where": where}
                            ).records("MsgDesc")

    def post(self, messages: Iterable[Mapping[str, Any]] | Mapping[str, Any], *,
             msg_type: str | None = None, action: str = "I", merge: bool | None = None,
             check: bool = False) -> list[Record]:
        """``postmsgs``: post envelopes (``{"header": {"mTyp": ...}, "message": {...}}``) or, with
        ``msg_type``, bare message bodies; ``action`` I(nsert), U(pdate), R(eplace), D(elete).
        Returns one ``PostAck`` per message, in order (``pkey`` is the stored record's key, the
        new ``parentNumber`` for an order). A refused message does not fail the others: its
        ack's ``result`` says why; ``check=True`` raises ``MLinkError`` for the first such ack."""
        if action.upper() not in _POST_ACTIONS:
            raise ValueError(f"action {action!r}: one of I, U, R, D")
        items = [messages] if isinstance(messages, Mapping) else list(messages)
        body = [_envelope(m, msg_type) for m in items]
        params: dict[str, object] = {"cmd": "postmsgs", "postaction": action.upper()}
        if merge is not None:
            params["postmerge"] = "Y" if merge else "N"
        acks = self.request(params, body).records("PostAck")
        if check:
            for a in acks:
                if a.get("result") != "OK":
                    raise MLinkError(str(a.get("result", "None")), str(a.get("detail", "")),
                                     "PostAck")
        return acks


def _envelope(m: Mapping[str, Any], msg_type: str | None) -> dict[str, Any]:
    if "header" in m and "message" in m:
        return dict(m)
    if msg_type is None:
        raise ValueError("a bare message body needs msg_type (or post an envelope with "
                         "header.mTyp)")
    return {"header": {"mTyp": msg_type}, "message": dict(m)}


def _parse_reply(raw: bytes, url: str) -> Reply:
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise MLinkConnectionError(f"{url}: the reply is not JSON ({e}): {raw[:120]!r}") from e
    if not isinstance(doc, list) or not doc:
        raise MLinkConnectionError(f"{url}: the reply is not a JSON array of messages")
    items: list[tuple[str, Record]] = []
    for env in doc:
        if not isinstance(env, dict):
            raise MLinkConnectionError(f"{url}: a reply element is not a message envelope")
        items.append((str(env.get("header", {}).get("mTyp", "")), env.get("message") or {}))
    last_t, last = items[-1]
    if last_t != "QueryResult":
        raise MLinkConnectionError(f"{url}: the reply does not end with a QueryResult")
    return Reply(items[:-1], last)
