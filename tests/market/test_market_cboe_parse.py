"""Properties of the chain reader: every date form gives the instant it names, and any layout of
known (and unknown) columns in any order reads back the cells written."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.market import ChainFormatError, parse_quote_time
from openmlink.market._cboe_parse import read_chain_columns

_OFFSETS = {"EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "UTC": 0, "GMT": 0}
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]


@st.composite
def _date_texts(draw) -> tuple[str, int]:
    local = draw(st.datetimes(datetime(2015, 1, 1), datetime(2030, 12, 31)))
    local = local.replace(second=0, microsecond=0)
    label = draw(st.sampled_from(sorted(_OFFSETS)))
    month = _MONTHS[local.month - 1]
    month = draw(st.sampled_from([month, month[:3]]))
    comma = draw(st.sampled_from([",", ""]))
    joint = draw(st.sampled_from([" at ", ", ", " ", " @ "]))
    if draw(st.booleans()):
        h12 = local.hour % 12 or 12
        clock = f"{h12}:{local.minute:02d} {'PM' if local.hour >= 12 else 'AM'}"
    else:
        clock = f"{local.hour}:{local.minute:02d}"
    prefix = draw(st.sampled_from(["Date: ", ""]))
    text = f"{prefix}{month} {local.day}{comma} {local.year}{joint}{clock} {label}"
    tz = timezone(timedelta(hours=_OFFSETS[label]))
    return text, int(local.replace(tzinfo=tz).timestamp()) * 1_000_000_000


@given(_date_texts())
@settings(max_examples=300, deadline=None)
def test_every_date_form_gives_the_instant_it_names(case):
    text, expect = case
    assert parse_quote_time(text) == expect


@pytest.mark.parametrize(("text", "utc"), [
    ("Date: September 14, 2023 at 4:31 PM EDT", "2023-09-14 20:31"),
    ("Date: February 5 2022, 8:09 PM EST", "2022-02-06 01:09"),
    ("Date: June 4, 2021 at 3:59 PM CDT", "2021-06-04 20:59"),
    ("Date: June 4, 2021 at 3:59 PM", "2021-06-04 19:59"),  # no label: New York
    ("Date: January 4, 2021 at 3:59 PM ET", "2021-01-04 20:59"),  # ET in winter = EST
    ("Date: July 6, 2021 at 3:59 PM CT", "2021-07-06 20:59"),  # CT in summer = CDT
    ("Jan 24 2019 @ 18:26 ET", "2019-01-24 23:26"),
])
def test_known_date_lines(text, utc):
    got = datetime.fromtimestamp(parse_quote_time(text) / 1e9, UTC)
    assert got.strftime("%Y-%m-%d %H:%M") == utc


@pytest.mark.parametrize("text", ["Date: 2023-09-14 16:31", "Date: Septober 14, 2023 at 4:31 PM",
                                  "Date: September 31, 2023 at 4:31 PM EDT",
                                  "Date: September 14, 2023 at 13:31 PM EDT",
                                  "Date: September 14, 2023 at 4:31 PM PDT", ""])
def test_dates_not_understood_say_why(text):
    with pytest.raises(ValueError, match="date"):
        parse_quote_time(text)


# ---------------------------------------------------------------------- any layout of columns
_ALIASES = {"last": ["Last Sale", "Last"], "net": ["Net"], "bid": ["Bid"], "ask": ["Ask"],
            "volume": ["Volume", "Vol"], "oi": ["Open Interest", "Open Int"], "iv": ["IV"],
            "delta": ["Delta"], "gamma": ["Gamma"]}
_PRICE = st.floats(0, 5000, allow_nan=False).map(lambda x: round(x, 2))


@st.composite
def _chains(draw):
    n = draw(st.integers(1, 12))
    strikes = draw(st.lists(st.integers(1, 4000), min_size=n, max_size=n, unique=True))
    optional = st.sampled_from(["last", "net", "volume", "oi", "iv", "delta", "gamma"])
    fields = ["bid", "ask", *draw(st.lists(optional, unique=True))]
    sides = []
    for _side in ("calls", "puts"):
        cols = draw(st.permutations(fields))
        names = [draw(st.sampled_from(_ALIASES[f])) for f in cols]
        extra = draw(st.lists(st.sampled_from(["Bid Size", "Ask Size", "Mark", "Theta"]),
                              unique=True, max_size=2))
        for e in extra:  # unknown columns anywhere on the side
            at = draw(st.integers(0, len(names)))
            cols.insert(at, None)
            names.insert(at, e)
        sides.append((cols, names))
    values = {(f, side, i): draw(_PRICE if f in ("bid", "ask", "last", "net")
                                 else st.integers(0, 10**6) if f in ("volume", "oi")
                                 else st.floats(0, 3, allow_nan=False).map(lambda x: round(x, 4)))
              for f in fields for side in (0, 1) for i in range(n)}
    with_strike = draw(st.booleans())
    with_expiry = draw(st.booleans())
    return n, strikes, sides, values, with_strike, with_expiry


def _write(case) -> str:
    _n, strikes, sides, values, with_strike, with_expiry = case
    (ccols, cnames), (pcols, pnames) = sides
    header = (["Expiration Date"] if with_expiry else []) + ["Calls", *cnames] + (
        ["Strike"] if with_strike else []) + ["Puts", *pnames]
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["ACME Corp", "Last: 10.5", "Change: 0.1"])
    w.writerow(["Date: March 3 2022, 4:15 PM EST", "Bid: 10.4", "Ask: 10.6"])
    w.writerow(header)
    for i, k in enumerate(strikes):
        row = ["Fri Mar 18 2022"] if with_expiry else []
        row.append(f"ACME220318C{k * 1000:08d}")
        row += ["7" if f is None else str(values[(f, 0, i)]) for f in ccols]
        row += [f"{k:.2f}"] if with_strike else []
        row.append(f"ACME220318P{k * 1000:08d}")
        row += ["7" if f is None else str(values[(f, 1, i)]) for f in pcols]
        w.writerow(row)
    return out.getvalue()


@given(_chains())
@settings(max_examples=150, deadline=None)
def test_any_column_layout_reads_back_the_cells_written(tmp_path_factory, case):
    path = tmp_path_factory.mktemp("chain") / "acme.csv"
    path.write_text(_write(case))
    got = read_chain_columns(path)
    n, strikes, _sides, values, _ws, _we = case
    assert got.root == ["ACME"] * (2 * n)
    assert got.expiry.tolist() == [(date(2022, 3, 18) - date(1970, 1, 1)).days] * (2 * n)
    assert got.strike.tolist() == [float(k) for k in strikes for _ in (0, 1)]
    assert got.cp.tolist() == [0, 1] * n
    for f, arr, missing in (("bid", got.bid_px, 0.0), ("ask", got.ask_px, 0.0),
                            ("last", got.last_px, 0.0), ("volume", got.volume_ct, 0),
                            ("oi", got.open_interest, 0), ("iv", got.iv, None),
                            ("gamma", got.gamma, None)):
        for i in range(n):
            for side in (0, 1):
                v = arr[2 * i + side]
                want = values.get((f, side, i))
                if want is None:
                    assert np.isnan(v) if missing is None else v == missing
                else:
                    assert v == want, (f, side, i)
    assert (got.bid, got.ask, got.last) == (10.4, 10.6, 10.5)


@given(_chains(), st.data())
@settings(max_examples=60, deadline=None)
def test_a_garbled_number_is_named_by_line_and_column(tmp_path_factory, case, data):
    text = _write(case).splitlines()
    n = case[0]
    line = data.draw(st.integers(4, 3 + n))  # a data line (1-based)
    cells = next(csv.reader([text[line - 1]]))
    header = next(csv.reader([text[2]]))
    numeric = [i for i, h in enumerate(header) if h in ("Bid", "Ask", "Volume", "Vol", "IV")]
    col = data.draw(st.sampled_from(numeric))
    cells[col] = "12x"
    out = io.StringIO()
    csv.writer(out).writerow(cells)
    text[line - 1] = out.getvalue().rstrip("\r\n")
    path = tmp_path_factory.mktemp("chain") / "acme.csv"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(ChainFormatError) as e:
        read_chain_columns(path)
    assert e.value.line == line
    assert f"column {header[col]!r}" in e.value.reason and "'12x' is not a number" in e.value.reason

