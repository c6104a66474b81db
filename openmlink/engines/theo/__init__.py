"""The client theo-surface engine: validates SpdrTheoExpSurface records and computes
OptionTheoVol as it is read.  Kernels in ``openmlink.analytics.theo``; docs/theo.md."""

from ._engine import TheoEngine, surface_error

__all__ = ["TheoEngine", "surface_error"]
