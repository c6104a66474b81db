"""Reading a Cboe delayed-quote option chain CSV file (the "download CSV" of the Cboe delayed
quotes page) into columns, by header name, refusing with the place and the reason anything it
does not understand.

A file has a short preamble, then a header and one row per (expiry, strike) with the call and
the put side by side.  Blank lines are ignored (current downloads start with one)::

    Standard & Poors 500 Index,Last: 4505.1001,Change:  37.6601
    "Date: September 14, 2023 at 4:31 PM EDT",Bid: 4483.25,Ask: 4526.27,Size: 1*1,Volume: 0
    Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest,Strike,
    Puts,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest

Variants known and accepted:

* **Date line**: ``Date: September 14, 2023 at 4:31 PM EDT`` (2023 and later),
  ``Date: February 5 2022, 8:09 PM EST`` (early 2022: no comma after the day, no "at"), and the
  mixtures of the two (with or without " at ", with or without either comma), abbreviated month
  names, and the ``Jan 24 2019 @ 18:26 ET`` form of the pre-2019 "quotedata" files (24-hour
  clock, "@"; their rows name series as ``19 Jan 2750.00 (SPXW1924A2750-E)``, which is refused
  as not an OSI symbol).  The zone label is
  honoured: EST (UTC-5), EDT (UTC-4), CST (UTC-6), CDT (UTC-5), UTC/GMT; ET/CT (and no label)
  mean New York/Chicago local time on that date.
* **Underlier cells** after the date: ``Bid: x``, ``Ask: x`` (``0`` for an index, which has no
  quote: the loader then uses the last value), optional ``Size: b*a`` and ``Volume: n`` (quoted
  when it has thousands separators); ``Last: x`` on the first line.
* **Header names** (case-insensitive, any order, one group per side): ``Calls``/``Puts`` hold the
  OSI symbols (``SPXW230914C01200000``); per side ``Bid`` and ``Ask`` are required, ``Last Sale``
  (or ``Last``), ``Net``, ``Volume`` (or ``Vol``), ``Open Interest`` (or ``Open Int``), ``IV``,
  ``Delta``, ``Gamma`` are optional (older downloads have no IV/Delta/Gamma columns);
  ``Expiration Date`` and ``Strike`` are shared.  Call columns are those between ``Calls`` and
  the next of ``Strike``/``Puts``; put columns follow ``Puts``.  Columns with other names are
  ignored (inferred: a future download adding e.g. sizes still loads).

Refused, with file, line and column: a missing required column, a name given twice on one
side, a row with more or fewer cells than the header, a number that does not parse, a symbol
that is not an OSI option symbol (or a put in the call column), a date that does not parse or
an unknown zone label, a file with no option rows.  Empty cells and ``-``/``N/A`` read as 0
(no bid, no trade); ``IV``/``Delta``/``Gamma`` read NaN when absent.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from ._calendar import NEW_YORK
from ._errors import ChainFormatError

__all__ = ["ChainColumns", "parse_osi", "parse_quote_time", "read_chain_columns"]

_OSI = re.compile(r"^([A-Z0-9.]{1,6}?)(\d{6})([CP])(\d{8})$")
_EPOCH = date(1970, 1, 1)
_MONTHS = {m: i + 1 for i, m in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"))}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_DATE = re.compile(
    r"^(?P<mon>[A-Za-z]+)\.?\s+(?P<day>\d{1,2}),?\s+(?P<year>\d{4}),?\s*(?:(?:at|@)\s+)?"
    r"(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?"
    r"(?:\s+(?P<tz>[A-Za-z]{1,5}))?$")
_FIXED = {"EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "UTC": 0, "GMT": 0, "Z": 0}
_LOCAL = {"ET": NEW_YORK, "CT": ZoneInfo("America/Chicago")}
_BLANK = {"", "-", "--", "N/A", "NA"}

#: header name (lower case) -> field of a side
_SIDE_NAMES = {
    "last sale": "last", "last": "last", "net": "net", "bid": "bid", "ask": "ask",
    "volume": "volume", "vol": "volume", "iv": "iv", "delta": "delta", "gamma": "gamma",
    "open interest": "oi", "open int": "oi", "open int.": "oi",
}
_REQUIRED = ("bid", "ask")


def parse_osi(symbol: str) -> tuple[str, date, str, float]:
    """``SPXW230914C01200000`` -> (``SPXW``, 2023-09-14, ``Call``, 1200.0)."""
    m = _OSI.match(symbol.strip())
    if m is None:
        raise ValueError(f"{symbol!r} is not an OSI option symbol")
    root, ymd, cp, strike = m.groups()
    d = date(2000 + int(ymd[:2]), int(ymd[2:4]), int(ymd[4:]))
    return root, d, "Call" if cp == "C" else "Put", int(strike) / 1000.0


def parse_quote_time(text: str) -> int:
    """The instant (ns since the epoch, UTC) of a chain's date text, e.g. ``September 14, 2023
    at 4:31 PM EDT`` or ``February 5 2022, 8:09 PM EST`` (``Date:`` prefix allowed); raises
    ``ValueError`` saying what is wrong."""
    t = text.strip()
    if t.lower().startswith("date:"):
        t = t[5:].strip()
    m = _DATE.match(t)
    if m is None:
        raise ValueError(f"date {t!r} not understood (expected e.g. 'September 14, 2023 at "
                         f"4:31 PM EDT' or 'February 5 2022, 8:09 PM EST')")
    mon = _MONTHS.get(m["mon"].lower())
    if mon is None:
        raise ValueError(f"date {t!r}: month {m['mon']!r} not understood")
    hour, minute, sec = int(m["h"]), int(m["m"]), int(m["s"] or 0)
    if m["ampm"]:
        if not 1 <= hour <= 12:
            raise ValueError(f"date {t!r}: hour {hour} with {m['ampm']}")
        hour = hour % 12 + (12 if m["ampm"][0] in "Pp" else 0)
    label = (m["tz"] or "").upper()
    if label and label not in _FIXED and label not in _LOCAL:
        raise ValueError(f"date {t!r}: time zone {m['tz']!r} not known (EST, EDT, CST, CDT, "
                         f"ET, CT, UTC)")
    tz = (timezone(timedelta(hours=_FIXED[label])) if label in _FIXED
          else _LOCAL.get(label, NEW_YORK))
    try:
        dt = datetime(int(m["year"]), mon, int(m["day"]), hour, minute, sec, tzinfo=tz)
    except ValueError as e:
        raise ValueError(f"date {t!r}: {e}") from None
    return int(dt.astimezone(UTC).timestamp()) * 1_000_000_000


@dataclass
class ChainColumns:
    """What a chain file holds: the underlier line and one entry per listed series."""

    name: str
    last: float
    bid: float
    ask: float
    volume: int
    quote_ns: int
    root: list[str] | np.ndarray  # list from the parser; ChainSnapshot: object array of str
    expiry: np.ndarray  # int32 days since 1970-01-01
    strike: np.ndarray
    cp: np.ndarray  # int8: 0 Call, 1 Put
    bid_px: np.ndarray
    ask_px: np.ndarray
    last_px: np.ndarray
    volume_ct: np.ndarray
    open_interest: np.ndarray
    iv: np.ndarray  # Cboe's IV column (NaN when the layout has none)
    delta: np.ndarray
    gamma: np.ndarray


@dataclass
class _Side:
    label: str  # "calls" or "puts"
    symbol: int
    cols: dict[str, int]


class _Lines:
    """Non-blank CSV rows with their 1-based line numbers."""

    def __init__(self, path: Path, f: Iterator[str]) -> None:
        self.path = path
        self._reader = csv.reader(f)

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        r = self._reader
        try:
            for row in r:
                if any(c.strip() for c in row):
                    yield r.line_num, row
        except csv.Error as e:
            raise ChainFormatError(self.path, r.line_num, f"not CSV: {e}") from None


def _number(path: Path, line: int, column: str, text: str) -> float:
    t = text.strip().replace(",", "")
    if t.upper() in _BLANK:
        return 0.0
    try:
        return float(t)
    except ValueError:
        raise ChainFormatError(path, line, f"column {column}: {text.strip()!r} is not a "
                               f"number") from None


def _labelled(cells: list[str], label: str) -> str | None:
    for c in cells:
        head, sep, value = c.partition(":")
        if sep and head.strip().lower() == label:
            return value.strip()
    return None


def _sides(path: Path, line: int, header: list[str]) -> tuple[_Side, _Side]:
    names = [h.strip().lower() for h in header]
    if "calls" not in names or "puts" not in names:
        raise ChainFormatError(path, line, "not a Cboe chain header (no 'Calls' and 'Puts' "
                               f"columns): {','.join(h.strip() for h in header)[:120]!r}")
    ci, pi = names.index("calls"), names.index("puts")
    if pi < ci:
        raise ChainFormatError(path, line, "header has 'Puts' before 'Calls'")
    c_end = min([i for i, n in enumerate(names) if n in ("strike", "puts") and i > ci])
    out = []
    for label, idx, lo, hi in (("calls", ci, ci + 1, c_end), ("puts", pi, pi + 1, len(names))):
        cols: dict[str, int] = {}
        for i in range(lo, hi):
            f = _SIDE_NAMES.get(names[i])
            if f is None:
                continue
            if f in cols:
                raise ChainFormatError(path, line, f"column {header[i].strip()!r} appears twice "
                                       f"on the {label} side")
            cols[f] = i
        for f in _REQUIRED:
            if f not in cols:
                raise ChainFormatError(path, line, f"required column {f.title()!r} missing on "
                                       f"the {label} side")
        out.append(_Side(label, idx, cols))
    return out[0], out[1]


def read_chain_columns(path: str | Path) -> ChainColumns:
    """Parse one Cboe chain CSV file; ``ChainFormatError`` (file, line, column, reason) for
    anything not understood, ``SourceError``-typed too when the file cannot be read."""
    p = Path(path)
    try:
        f = open(p, newline="", encoding="utf-8-sig")
    except OSError as e:
        raise ChainFormatError(path, None, f"cannot read: {e.strerror or e}") from None
    with f:
        try:
            return _read(Path(path), iter(_Lines(Path(path), f)))
        except UnicodeDecodeError as e:
            raise ChainFormatError(path, None, f"not a text (UTF-8) file: {e.reason}") from None


def _preamble(p: Path, lines: Iterator[tuple[int, list[str]]]
              ) -> tuple[str, float, float, float, int, int]:
    first = next(lines, None)
    second = next(lines, None)
    if first is None or second is None:
        raise ChainFormatError(p, None, "not a Cboe chain file (fewer than three lines)")
    (l1, row1), (l2, row2) = first, second
    if {"calls", "puts"} <= {c.strip().lower() for c in row1}:
        raise ChainFormatError(p, l1, "chain header without the name and date lines before it")
    name = row1[0].strip()
    last_text = _labelled(row1, "last")
    last = _number(p, l1, "'Last'", last_text) if last_text is not None else 0.0
    date_cell = next((c for c in row2 if c.strip().lower().startswith("date:")), row2[0])
    try:
        quote_ns = parse_quote_time(date_cell)
    except ValueError as e:
        raise ChainFormatError(p, l2, str(e)) from None
    vals = []
    for label in ("bid", "ask", "volume"):
        text = _labelled(row2, label)
        vals.append(_number(p, l2, repr(label.title()), text) if text is not None else 0.0)
    return name, last, vals[0], vals[1], int(vals[2]), quote_ns


def _read(p: Path, lines: Iterator[tuple[int, list[str]]]) -> ChainColumns:
    name, last, bid, ask, volume, quote_ns = _preamble(p, lines)
    head = next(lines, None)
    if head is None:
        raise ChainFormatError(p, None, "no chain header after the date line")
    hline, header = head
    calls, puts = _sides(p, hline, header)
    width = len(header)
    roots: list[str] = []
    nums: dict[str, list[float]] = {k: [] for k in ("expiry", "strike", "cp", "bid", "ask", "last",
                                                    "volume", "oi", "iv", "delta", "gamma")}
    for line, row in lines:
        if len(row) != width and not (len(row) > width and not any(c.strip() for c in row[width:])):
            raise ChainFormatError(p, line, f"{len(row)} cells where the header (line {hline}) "
                                   f"has {width}")
        for side, cpv in ((calls, 0), (puts, 1)):
            sym = row[side.symbol].strip()
            if not sym:
                continue
            try:
                root, d, cp, k = parse_osi(sym)
            except ValueError as e:
                raise ChainFormatError(p, line, f"column {header[side.symbol].strip()!r}: {e}"
                                       ) from None
            if (cp == "Call") != (cpv == 0):
                raise ChainFormatError(p, line, f"column {header[side.symbol].strip()!r}: {sym!r} "
                                       f"is a {cp.lower()}")
            roots.append(root)
            nums["expiry"].append((d - _EPOCH).days)
            nums["strike"].append(k)
            nums["cp"].append(cpv)
            for f in ("bid", "ask", "last", "volume", "oi", "iv", "delta", "gamma"):
                i = side.cols.get(f)
                if i is None:
                    nums[f].append(float("nan") if f in ("iv", "delta", "gamma") else 0.0)
                else:
                    nums[f].append(_number(p, line, f"{header[i].strip()!r} ({side.label})", row[i]))
    if not roots:
        raise ChainFormatError(p, hline, "no option rows after the header")
    a = {k: np.array(v, np.float64) for k, v in nums.items()}
    return ChainColumns(
        name=name, last=last, bid=bid, ask=ask, volume=volume, quote_ns=quote_ns, root=roots,
        expiry=a["expiry"].astype(np.int32), strike=a["strike"], cp=a["cp"].astype(np.int8),
        bid_px=a["bid"], ask_px=a["ask"], last_px=a["last"],
        volume_ct=a["volume"].astype(np.int64), open_interest=a["oi"].astype(np.int64),
        iv=a["iv"], delta=a["delta"], gamma=a["gamma"],
    )
