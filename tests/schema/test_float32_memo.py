"""The remembered single-value conversion gives what the computation gives, zeros keep their
sign, and the memory stays bounded."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from openmlink.schema import _float32
from openmlink.schema._float32 import float32_shortest_one


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_twice_the_same_as_computed(x: float) -> None:
    a, b = float32_shortest_one(x), float32_shortest_one(x)
    for r in (a, b):
        if math.isnan(x):
            assert math.isnan(r)
            continue
        f = np.float32(x) if abs(x) <= 3.4028234663852886e38 else None
        if f is None or not np.isfinite(f):
            assert r == x
        elif f == 0:
            assert r == 0 and math.copysign(1, r) == math.copysign(1, x)
        else:
            assert r == float(str(f))


def test_negative_zero_after_zero_and_the_memory_bound() -> None:
    assert math.copysign(1, float32_shortest_one(0.0)) == 1
    assert math.copysign(1, float32_shortest_one(-0.0)) == -1
    for i in range(_float32._ONE_MAX + 10):
        float32_shortest_one(1.0 + i * 1e-6)
    assert len(_float32._ONE) <= _float32._ONE_MAX
