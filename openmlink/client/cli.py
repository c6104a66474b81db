"""The client commands of ``openmlink``: ``query``, ``stream``, ``post``, ``schema``, ``sql``.

Server URL and key come from ``--url``/``--key`` or the environment (``OPENMLINK_URL``,
``OPENMLINK_KEY``; ``OPENMLINK_API_KEY`` also works for the key). They speak only the MLink
protocol, so they work against any MLink endpoint."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from ._errors import MLinkConnectionError, MLinkError
from ._format import FORMATS, cell, columns_of, render, table
from ._records import Record, flatten
from ._rest import MLinkClient
from ._socket import MLinkSocket
from ._sql import sql_query

__all__ = ["COMMANDS", "add_commands", "run"]

DEFAULT_URL = "http://127.0.0.1:8080"


class UsageError(Exception):
    """A bad option or input file: one line, exit status 2."""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=None,
                   help=f"server URL (default $OPENMLINK_URL or {DEFAULT_URL})")
    p.add_argument("--key", default=None, help="API key (default $OPENMLINK_KEY)")
    p.add_argument("--log-level", default="WARNING")


def _query_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("msg_type", metavar="TYPE", help="message type, e.g. LiveImpliedQuote")
    p.add_argument("--where", "-w", help="filter, e.g. 'okey.tk:eq:SPY & de:cb:0.4$0.6'")
    p.add_argument("--view", "-v", help="fields to return, '|'-separated")


def add_commands(sub: Any) -> None:
    """Add the client subcommands to ``openmlink``'s subparsers."""
    q = sub.add_parser("query", help="read records over REST (getmsgs) as a table, CSV or JSON")
    _query_options(q)
    q.add_argument("--order", "-o", help="sort, e.g. 'okey.xx:ASC|bidPrice:DESC'")
    q.add_argument("--limit", "-l", type=int, help="most records (server default 500)")
    q.add_argument("--pkey", help="only this key (flat form, e.g. SPY-NMS-EQT)")
    q.add_argument("--count", action="store_true", help="print only how many records match")
    q.add_argument("--format", "-f", choices=FORMATS, default="table")
    _common(q)
    s = sub.add_parser("stream", help="stream records over the WebSocket (a live table on a "
                                      "terminal, else one JSON record per line)")
    _query_options(s)
    s.add_argument("--latency", type=int, default=500,
                   help="activeLatency ms: at most one update per key per this many ms "
                        "(0: only the snapshot, then FullScan every --scan-seconds)")
    s.add_argument("--scan-seconds", type=float, default=5.0,
                   help="with --latency 0: seconds between MLinkSignalReady FullScan requests")
    s.add_argument("--snapshot", action="store_true", help="stop after the snapshot")
    s.add_argument("--seconds", type=float, help="stop after this many seconds")
    s.add_argument("--max-records", type=int, help="stop after this many records")
    s.add_argument("--format", "-f", choices=(*FORMATS, "live"), default=None,
                   help="live (a redrawn table; default on a terminal), json (one record per "
                        "line; default otherwise), csv, or table (printed once, at the end)")
    s.add_argument("--framing", choices=("json", "jsonf"), default="json",
                   help="WebSocket framing: /mlink/json or /mlink/jsonf")
    _common(s)
    p = sub.add_parser("post", help="post messages from a JSON file (postmsgs)")
    p.add_argument("file", metavar="FILE", help="JSON: an envelope, an array of envelopes, or "
                                                 "bare bodies with --type ('-' reads stdin)")
    p.add_argument("--type", dest="msg_type", help="message type of bare message bodies")
    p.add_argument("--action", default="I", choices=("I", "U", "R", "D"),
                   help="postaction: Insert, Update, Replace, Delete")
    p.add_argument("--merge", choices=("Y", "N"), help="postmerge")
    p.add_argument("--format", "-f", choices=FORMATS, default="table")
    _common(p)
    c = sub.add_parser("schema", help="the fields of a message type (getschema), or every "
                                      "message type (getmsgtypes) without TYPE")
    c.add_argument("msg_type", metavar="TYPE", nargs="?")
    c.add_argument("--format", "-f", choices=FORMATS, default="table")
    _common(c)
    q = sub.add_parser("sql", help="run SQL on the server's MySQL endpoint")
    q.add_argument("sql", metavar="SQL", help="one statement, e.g. 'select ... from "
                                              "sranalytics.msgliveimpliedquote limit 5'")
    q.add_argument("--sql-port", type=int, default=int(os.environ.get("OPENMLINK_SQL_PORT", 3306)),
                   help="port of the SQL endpoint (default $OPENMLINK_SQL_PORT or 3306)")
    q.add_argument("--user", default=os.environ.get("OPENMLINK_USER", "dev"),
                   help="the key's userName (default $OPENMLINK_USER or dev)")
    q.add_argument("--format", "-f", choices=FORMATS, default="table")
    _common(q)


def _url_key(args: argparse.Namespace) -> tuple[str, str]:
    url = args.url or os.environ.get("OPENMLINK_URL") or DEFAULT_URL
    key = args.key or os.environ.get("OPENMLINK_KEY") or os.environ.get("OPENMLINK_API_KEY")
    if not key:
        raise UsageError("no API key: give --key or set OPENMLINK_KEY")
    return url, key


def _query(args: argparse.Namespace, out: TextIO) -> int:
    ml = MLinkClient(*_url_key(args))
    if args.count:
        print(ml.count(args.msg_type, where=args.where), file=out)
        return 0
    recs = ml.get_msgs(args.msg_type, where=args.where, view=args.view, order=args.order,
                       limit=args.limit, pkey=args.pkey)
    print(render(recs, args.format), file=out)
    return 0


def _read_json(path: str) -> Any:
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except OSError as e:
        raise UsageError(f"{path}: {e.strerror or e}") from None
    try:
        return json.loads(text)
    except ValueError as e:
        raise UsageError(f"{path}: not JSON: {e}") from None


def _post(args: argparse.Namespace, out: TextIO) -> int:
    doc = _read_json(args.file)
    items = doc if isinstance(doc, list) else [doc]
    if not items or not all(isinstance(m, dict) for m in items):
        raise UsageError(f"{args.file}: expected a JSON object or an array of objects")
    if args.msg_type is None and not all("header" in m and "message" in m for m in items):
        raise UsageError(f"{args.file}: a message without header/message needs --type")
    ml = MLinkClient(*_url_key(args))
    merge = None if args.merge is None else args.merge == "Y"
    acks = ml.post(items, msg_type=args.msg_type, action=args.action, merge=merge)
    print(render(acks, args.format), file=out)
    return 0 if all(a.get("result") == "OK" for a in acks) else 1


def _schema(args: argparse.Namespace, out: TextIO) -> int:
    ml = MLinkClient(*_url_key(args))
    if args.msg_type is None:
        recs = ml.msg_types(view="name|mNum|mToken|topic")
        recs.sort(key=lambda r: str(r.get("name", "")))
    else:
        recs = ml.schema(args.msg_type)
        if args.format != "json":
            recs = [{c: r.get(c) for c in ("pos", "name", "fType", "isPkey", "eName", "eSet",
                                          "desc")} for r in recs]
    print(render(recs, args.format), file=out)
    return 0


def _sql(args: argparse.Namespace, out: TextIO) -> int:
    from ._urls import Endpoint

    url, key = _url_key(args)
    rows = sql_query(args.sql, host=Endpoint(url).host, key=key, user=args.user,
                     port=args.sql_port)
    print(render(rows, args.format, flat=False), file=out)
    return 0


def _stream(args: argparse.Namespace, out: TextIO) -> int:
    fmt = args.format or ("live" if out.isatty() else "json")
    return asyncio.run(_stream_async(args, fmt, out))


class _Live:
    """The latest record per key, redrawn as a table at most four times a second."""

    def __init__(self, out: TextIO, live: bool) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.out = out
        self.live = live
        self.last = 0.0
        self.updates = 0

    def put(self, rec: Record) -> None:
        key = json.dumps(rec.get("pkey"), sort_keys=True)
        self.rows[key] = flatten(rec)
        self.updates += 1
        if self.live and time.monotonic() - self.last > 0.25:
            self.draw()

    def draw(self) -> None:
        self.last = time.monotonic()
        height = shutil.get_terminal_size((120, 40)).lines - 4
        rows = [self.rows[k] for k in sorted(self.rows)]
        self.out.write("\x1b[H\x1b[2J" + table(rows[:height]) + "\n"
                       f"{len(rows)} keys, {self.updates} updates"
                       + (f" ({len(rows) - height} keys not shown)" if len(rows) > height else "")
                       + "\n")
        self.out.flush()

    def final(self) -> str:
        return table([self.rows[k] for k in sorted(self.rows)])


async def _stream_async(args: argparse.Namespace, fmt: str, out: TextIO) -> int:
    url, key = _url_key(args)
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    live = _Live(out, fmt == "live")
    csv_cols: list[str] | None = None
    n = 0

    def emit(rec: Record) -> None:
        nonlocal csv_cols
        if fmt in ("live", "table"):
            live.put(rec)
        elif fmt == "json":
            out.write(json.dumps(rec) + "\n")
            out.flush()
        else:
            row = flatten(rec)
            if csv_cols is None:
                csv_cols = columns_of([row])
                out.write(",".join(csv_cols) + "\n")
            out.write(",".join(_csv_cell(row.get(c)) for c in csv_cols) + "\n")
            out.flush()

    async with MLinkSocket(url, key, framing=args.framing) as ml:
        sub = await ml.stream(args.msg_type, where=args.where, view=args.view,
                              active_latency=max(0, args.latency),
                              query_label="openmlink stream")
        scan_at = time.monotonic() + args.scan_seconds
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if args.latency <= 0 and now >= scan_at:
                await ml.signal_ready("FullScan")
                scan_at = now + args.scan_seconds
            wait = min(x for x in (deadline, scan_at if args.latency <= 0 else None, now + 1.0)
                       if x is not None) - now
            try:
                ev = await sub.next_event(max(0.01, wait))
            except TimeoutError:
                continue
            if ev is None:
                break
            if ev.kind == "record":
                emit(ev.message)
                n += 1
                if args.max_records is not None and n >= args.max_records:
                    break
            elif ev.kind == "checkpoint" and ev.state == "Complete" and args.snapshot:
                break
            elif ev.kind in ("disconnected", "reconnected"):
                print(f"openmlink: stream {ev.kind} {ev.message.get('detail', '')}".rstrip(),
                      file=sys.stderr, flush=True)
    if fmt == "live":
        live.draw()
    elif fmt == "table":
        print(live.final(), file=out)
    return 0


def _csv_cell(v: Any) -> str:
    s = cell(v)
    return f'"{s.replace(chr(34), chr(34) * 2)}"' if any(ch in s for ch in ',"\n') else s


COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "query": _query, "stream": _stream, "post": _post, "schema": _schema, "sql": _sql}


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run one client command; errors become one line on stderr (exit 1 for what the server
    said or an unreachable server, 2 for a bad option or file)."""
    try:
        return COMMANDS[args.command](args, out or sys.stdout)
    except UsageError as e:
        print(f"openmlink {args.command}: {e}", file=sys.stderr, flush=True)
        return 2
    except (MLinkError, MLinkConnectionError) as e:
        print(f"openmlink {args.command}: {e}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # piped into head: the reader has what it wanted
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
