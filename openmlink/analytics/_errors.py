"""Error codes returned by the implied-volatility kernels (one int8 per row)."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ABOVE", "BAD_INPUT", "BELOW", "NO_CONV", "OK", "ZERO_TV", "IvError"]


class IvError(IntEnum):
    """Per-row status of an implied-volatility solve; the vol is NaN wherever the code is not OK.

    OK               -- converged; the vol reprices the premium.
    BAD_INPUT        -- a NaN/inf input, S <= 0, K <= 0, t_years <= 0, cp not +1/-1, r or q NaN.
    BELOW_INTRINSIC  -- premium below the lowest attainable value (discounted intrinsic for
                        European, max(intrinsic, zero-vol value) for American).
    ABOVE_MAX        -- premium at or above the no-arbitrage upper bound (discounted forward for a
                        call, discounted strike for a put; spot / strike for American).
    ZERO_TIME_VALUE  -- premium equals the lower bound: the vol is undefined (any vol down to
                        zero reprices it).
    NO_CONVERGENCE   -- the solver did not reach its tolerance (e.g. American price flat in vol).
    """

    OK = 0
    BAD_INPUT = 1
    BELOW_INTRINSIC = 2
    ABOVE_MAX = 3
    ZERO_TIME_VALUE = 4
    NO_CONVERGENCE = 5


# The codes as plain ints, for Numba kernels (which cannot read an IntEnum).
OK = int(IvError.OK)
BAD_INPUT = int(IvError.BAD_INPUT)
BELOW = int(IvError.BELOW_INTRINSIC)
ABOVE = int(IvError.ABOVE_MAX)
ZERO_TV = int(IvError.ZERO_TIME_VALUE)
NO_CONV = int(IvError.NO_CONVERGENCE)
