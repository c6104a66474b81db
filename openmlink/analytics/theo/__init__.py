"""Client theo surfaces: skew curves and surface dynamics (pure arrays).  The engine that
validates SpdrTheoExpSurface records and computes OptionTheoVol is ``openmlink.engines.theo``;
docs/theo.md."""

from ._curves import X_AXIS_TYPES, curve_points, spline_eval, svi_problem, svi_total_variance, x_axis
from ._surface import (
    BUY_SELL_CONVENTIONS,
    SKEW_FUNCS,
    SurfaceSpec,
    buy_sell_vols,
    surface_problem,
    theo_vols,
)

__all__ = [
    "BUY_SELL_CONVENTIONS",
    "SKEW_FUNCS",
    "X_AXIS_TYPES",
    "SurfaceSpec",
    "buy_sell_vols",
    "curve_points",
    "spline_eval",
    "surface_problem",
    "svi_problem",
    "svi_total_variance",
    "theo_vols",
    "x_axis",
]
