"""Start-of-day positions file (``openmlink serve --positions FILE``).

Format: CSV with a header line; blank lines and lines starting with ``#`` are ignored.

=============  ========  ==============================================================
column         required  meaning
=============  ========  ==============================================================
accnt          yes       account (up to 16 characters)
clientFirm     yes       client firm of the account (up to 16 characters)
secKey         yes       ``AAPL-NMS-EQT`` (stock) or ``AAPL-NMS-EQT-2025-07-18-200-C`` (option)
position       yes       signed opening quantity: shares, or contracts for options
mark           no        prior close / opening mark per share or per contract (blank: none)
=============  ========  ==============================================================

The positions are the opening positions (``stkOpnPos`` / ``optOpnPos``) of the server's
current trade date, risk session Regular.  Every error names the file, the line and the column.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError
from ...schema import KeyError_, OptionKey, TickerKey, parse_any_key

__all__ = ["PositionsFileError", "SodPosition", "load_positions", "parse_positions"]

COLUMNS = ("accnt", "clientFirm", "secKey", "position")


class PositionsFileError(ConfigError):
    """A start-of-day positions file that cannot be loaded (message names line and column)."""


@dataclass(frozen=True)
class SodPosition:
    accnt: str
    client_firm: str
    key: OptionKey | TickerKey
    position: int
    mark: float  # NaN when not given


def load_positions(path: str | Path) -> list[SodPosition]:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise PositionsFileError(f"{p}: cannot read positions file: {e.strerror or e}") from e
    return parse_positions(text, str(p))


def parse_positions(text: str, where: str = "positions") -> list[SodPosition]:
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines())
             if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise PositionsFileError(f"{where}: no header line (expected {','.join(COLUMNS)}[,mark])")
    rows = list(csv.reader([ln for _, ln in lines]))
    header = [h.strip() for h in rows[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise PositionsFileError(f"{where} line {lines[0][0]}: header lacks column(s) "
                                 f"{', '.join(missing)} (expected {','.join(COLUMNS)}[,mark])")
    unknown = [h for h in header if h not in (*COLUMNS, "mark")]
    if unknown:
        raise PositionsFileError(f"{where} line {lines[0][0]}: unknown column(s) {', '.join(unknown)}")
    col = {h: i for i, h in enumerate(header)}
    out: list[SodPosition] = []
    seen: dict[tuple[str, str, object], int] = {}
    for (lineno, _), row in zip(lines[1:], rows[1:], strict=True):
        at = f"{where} line {lineno}"
        if len(row) != len(header):
            raise PositionsFileError(f"{at}: {len(row)} values for {len(header)} columns")
        v = {h: row[i].strip() for h, i in col.items()}
        for c in ("accnt", "clientFirm"):
            if not v[c]:
                raise PositionsFileError(f"{at}: column '{c}' is empty")
            if len(v[c]) > 16:
                raise PositionsFileError(f"{at}: column '{c}': '{v[c]}' is longer than 16 characters")
        try:
            key = parse_any_key(v["secKey"])
        except KeyError_ as e:
            raise PositionsFileError(f"{at}: column 'secKey': {e}") from None
        if not isinstance(key, OptionKey | TickerKey):
            raise PositionsFileError(f"{at}: column 'secKey': '{v['secKey']}' is an expiry, not a "
                                     "stock or option key")
        try:
            qty = int(v["position"])
        except ValueError:
            raise PositionsFileError(f"{at}: column 'position': '{v['position']}' is not an "
                                     "integer") from None
        mark = math.nan
        if v.get("mark"):
            try:
                mark = float(v["mark"])
            except ValueError:
                raise PositionsFileError(f"{at}: column 'mark': '{v['mark']}' is not a number") from None
            if not math.isfinite(mark) or mark < 0:
                raise PositionsFileError(f"{at}: column 'mark': {v['mark']} must be a finite "
                                         "number >= 0")
        dup = (v["accnt"], v["clientFirm"], key)
        if dup in seen:
            raise PositionsFileError(f"{at}: {v['secKey']} for accnt {v['accnt']} is already on "
                                     f"line {seen[dup]}")
        seen[dup] = lineno
        out.append(SodPosition(v["accnt"], v["clientFirm"], key, qty, mark))
    return out
