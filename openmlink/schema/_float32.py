"""Single-precision output of ``float`` fields: MLink sends a schema ``float`` as the shortest
decimal that reads back to the same 32-bit float (``230.145``, not ``230.14499999999998``);
``double`` fields stay double.

``float32_shortest`` returns, for each value, the float64 nearest that shortest decimal, so any
JSON writer that prints shortest float64 reprs (orjson, ``repr``) prints the float32 form. It
works on whole columns: rounding a value to p significant digits (one multiply or divide by
an exact power of ten, ``rint``, and back: the nearest double to that p-digit decimal) reads
back to the same float32 for every p from the shortest on, so a binary search over p = 1..9
finds the shortest in four array passes. Magnitudes whose powers of ten are not exact doubles
go value by value.
"""

from __future__ import annotations

import numpy as np

__all__ = ["float32_shortest", "float32_shortest_one"]

_MAX_DIGITS = 9  # every float32 round-trips through 9 significant digits
_EXACT_POW10 = 22  # 10**k is an exact double for k <= 22
_FEW = 24  # below this many values, value by value is quicker than the array passes


def float32_shortest_one(x: float) -> float:
    """``float32_shortest`` of one value (remembered: records repeat their values, and the
    conversion costs microseconds; zeros keep their sign and are not remembered)."""
    r = _ONE.get(x)
    if r is not None and x != 0:
        return r
    with np.errstate(over="ignore"):
        f = np.float32(x)
    if not np.isfinite(f) or f == 0:
        return x if not np.isfinite(f) else 0.0 * x  # out of float32 range: stays double
    r = float(str(f))  # numpy prints the shortest round-trip repr of a float32
    if len(_ONE) >= _ONE_MAX:
        _ONE.clear()
    _ONE[x] = r
    return r


_ONE: dict[float, float] = {}
_ONE_MAX = 1 << 16


_POW10 = 10.0 ** np.arange(_EXACT_POW10 + 1)


def _rounded(v: np.ndarray, p: np.ndarray, e: np.ndarray) -> np.ndarray:
    """``v`` rounded to ``p`` significant digits (decimal exponents ``e``): the nearest double
    to that decimal where the power of ten is exact."""
    s = p - 1 - e
    neg = s < 0
    if not neg.any():
        scale = _POW10[np.minimum(s, _EXACT_POW10)]
        return np.rint(v * scale) / scale  # type: ignore[no-any-return]
    scale = _POW10[np.minimum(np.abs(s), _EXACT_POW10)]
    return np.where(neg, np.rint(v / scale) * scale, np.rint(v * scale) / scale)


def float32_shortest(x: np.ndarray) -> np.ndarray:
    """float64 values printing as the shortest repr of ``x`` rounded to float32. Zeros and
    non-finite values are kept; values beyond the float32 range stay double (inferred: the
    alternative, infinity, has no JSON form)."""
    x = np.asarray(x, np.float64)
    if len(x) < _FEW:
        return np.array([float32_shortest_one(v) for v in x.tolist()], np.float64)
    with np.errstate(over="ignore"):
        f = x.astype(np.float32)
    out = f.astype(np.float64)
    over = ~np.isfinite(f) & np.isfinite(x)
    if over.any():
        out[over] = x[over]
    idx = np.flatnonzero(np.isfinite(f) & (f != 0))
    if not len(idx):
        return out
    v = out[idx]
    target = f[idx]
    e = np.floor(np.log10(np.abs(v))).astype(np.int64)
    # rounding to more digits only comes closer: binary search for the fewest that read back
    lo = np.ones(len(v), np.int64)
    hi = np.full(len(v), _MAX_DIGITS, np.int64)
    while True:
        open_ = lo < hi
        if not open_.any():
            break
        mid = (lo + hi) // 2
        good = _rounded(v, mid, e).astype(np.float32) == target
        hi = np.where(open_ & good, mid, hi)
        lo = np.where(open_ & ~good, mid + 1, lo)
    res = _rounded(v, lo, e)
    slow = (np.abs(lo - 1 - e) > _EXACT_POW10) | (res.astype(np.float32) != target)
    for i in np.flatnonzero(slow).tolist():
        res[i] = float(str(target[i]))
    out[idx] = res
    return out
