"""The start-of-day positions file: documented format, every error names line and column."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmlink.schema import OptionKey, TickerKey
from openmlink.trading.risk import PositionsFileError, load_positions, parse_positions

GOOD = """# opening positions
accnt,clientFirm,secKey,position,mark
T.TJ.VEN3,ACME,AAPL-NMS-EQT,500,195.10

T.TJ.VEN3,ACME,AAPL-NMS-EQT-2025-07-18-200-C,-10,
"""


def test_parses_stock_and_option_rows() -> None:
    rows = parse_positions(GOOD)
    assert [(r.accnt, r.client_firm, r.position) for r in rows] == [
        ("T.TJ.VEN3", "ACME", 500), ("T.TJ.VEN3", "ACME", -10)]
    assert rows[0].key == TickerKey("EQT", "NMS", "AAPL") and rows[0].mark == 195.10
    assert isinstance(rows[1].key, OptionKey) and rows[1].key.cp == "Call"
    assert math.isnan(rows[1].mark)


@pytest.mark.parametrize(("text", "where"), [
    ("accnt,clientFirm,secKey\nA,F,AAPL-NMS-EQT\n", "line 1: header lacks column(s) position"),
    ("accnt,clientFirm,secKey,position,size\n", "unknown column(s) size"),
    ("accnt,clientFirm,secKey,position\nA,F,AAPL-NMS-EQT,ten\n",
     "line 2: column 'position': 'ten' is not an integer"),
    ("accnt,clientFirm,secKey,position\nA,F,AAPL,1\n", "line 2: column 'secKey'"),
    ("accnt,clientFirm,secKey,position\nA,F,AAPL-NMS-EQT-2025-07-18,1\n",
     "line 2: column 'secKey'"),
    ("accnt,clientFirm,secKey,position\n,F,AAPL-NMS-EQT,1\n", "line 2: column 'accnt' is empty"),
    ("accnt,clientFirm,secKey,position,mark\nA,F,AAPL-NMS-EQT,1,-3\n",
     "line 2: column 'mark': -3 must be"),
    ("accnt,clientFirm,secKey,position\nA,F,AAPL-NMS-EQT,1\nA,F,AAPL-NMS-EQT,2\n",
     "line 3: AAPL-NMS-EQT for accnt A is already on line 2"),
    ("accnt,clientFirm,secKey,position\nA,F,AAPL-NMS-EQT\n", "line 2: 3 values for 4 columns"),
    ("# nothing\n", "no header line"),
])
def test_errors_name_the_line_and_column(text: str, where: str) -> None:
    with pytest.raises(PositionsFileError) as e:
        parse_positions(text, "pos.csv")
    assert "pos.csv" in str(e.value) and where in str(e.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PositionsFileError, match="cannot read positions file"):
        load_positions(tmp_path / "none.csv")
    (tmp_path / "p.csv").write_text(GOOD)
    assert len(load_positions(tmp_path / "p.csv")) == 2


@given(st.text(max_size=200))
def test_any_text_loads_or_raises_a_positions_error(text: str) -> None:
    try:
        parse_positions("accnt,clientFirm,secKey,position\n" + text)
    except PositionsFileError:
        pass
