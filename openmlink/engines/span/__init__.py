"""The SpanRiskCalculator engine: client (or default) inputs on the bus in, completed records
out.  Kernels in ``openmlink.analytics.span``; conventions in docs/span.md."""

from ._engine import SpanEngine, SpanInputs

__all__ = ["SpanEngine", "SpanInputs"]
