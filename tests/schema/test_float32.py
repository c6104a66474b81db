"""Schema ``float`` fields go out in single precision, shortest form (MLink's ``230.145``), and
``double`` fields stay double: the column and the value-by-value encoders agree with numpy's
shortest float32 repr for any value."""

from __future__ import annotations

import math

import numpy as np
import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from openmlink.schema import encode_message, encode_value, encode_values, registry
from openmlink.schema._float32 import float32_shortest, float32_shortest_one


def _digits(x: float) -> int:
    """Significant digits of repr(x) (1e12 prints as 1000000000000.0: one digit, not 13)."""
    mantissa = repr(abs(x)).split("e")[0].replace(".", "")
    return len(mantissa.strip("0"))


def _expected(x: float) -> float:
    f = np.float32(x)
    return float(str(f))  # numpy prints the shortest decimal that reads back to f


finite32 = st.floats(allow_nan=False, allow_infinity=False, width=32).filter(lambda v: v != 0)
doubles = st.floats(allow_nan=False, allow_infinity=False, min_value=-3.4e38, max_value=3.4e38)


@given(st.lists(st.one_of(finite32, doubles), min_size=0, max_size=200))
@example([999999995904.0])  # float32 1e12: repr 1000000000000.0 is longer in characters only
def test_columns_print_the_shortest_float32_repr(xs: list[float]) -> None:
    x = np.array(xs, np.float64)
    got = float32_shortest(x)
    for v, g in zip(xs, got.tolist(), strict=True):
        if np.float32(v) == 0:
            assert g == 0
            continue
        assert g == _expected(v), (v, g)
        assert np.float32(g) == np.float32(v)  # reads back to the same float32
        assert _digits(g) <= _digits(float(np.float32(v)))


@given(st.one_of(finite32, doubles))
def test_one_value_agrees_with_the_column(v: float) -> None:
    assert float32_shortest_one(v) == float32_shortest(np.array([v] * 30))[0]


def test_float_fields_single_double_fields_double() -> None:
    reg = registry()
    sbq = reg["StockBookQuote"]
    f = sbq.field("bidPrice1")
    assert f is not None and f.ftype == "Float"
    assert encode_value(f, 230.14499999999998) == 230.145
    assert encode_values(f, np.array([230.14499999999998, 0.0, 1.1]))[::2] == [230.145, 1.1]
    body = encode_message(sbq, {"ticker": None, "bidPrice1": 230.14499999999998, "askPrice1": 0.1 + 0.2})
    assert orjson.dumps(body).endswith(b'"bidPrice1":230.145,"askPrice1":0.3}')
    doubles_ = [(mt, fd) for mt in reg.types for fd in mt.fields
                if fd.kind == "float" and fd.ftype == "Double"]
    assert doubles_, "the schemas declare double fields"
    _, d = doubles_[0]
    assert encode_value(d, 230.14499999999998) == 230.14499999999998
    assert encode_values(d, np.array([0.1 + 0.2]))[0] == 0.30000000000000004


def test_out_of_float32_range_stays_double_and_nonfinite_is_left_out() -> None:
    f = registry()["StockBookQuote"].field("bidPrice1")
    assert f is not None
    assert encode_value(f, 1e39) == 1e39
    assert encode_value(f, math.inf) is None
    assert encode_values(f, np.array([1e39, np.nan]))[:1] == [1e39]
