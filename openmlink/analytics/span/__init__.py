"""SPAN risk arrays: the 16-scenario kernel and the SpanRiskCalculator engine.

Kernels (pure arrays): ``scenario_grid`` (scenario underlier prices and vols), ``span_values``
(per-share values per ``spanCalcType``), ``bachelier_price``, ``parse_div_string``.
Engine: ``SpanEngine`` (bus records in, completed records out).  Conventions: docs/span.md.
"""

from ._divstring import DivStringError, parse_div_string
from ._engine import SpanEngine, SpanInputs
from ._kernel import CALC_TYPES, MODEL_TYPES, SpanModel, bachelier_price, span_values
from ._market import DEFAULT_RATE, MarketView
from ._scenarios import (
    EXCH_DEFAULTS,
    N_SCENARIOS,
    PRC_SPAN_TYPES,
    SPAN_FIELDS,
    VOL_SPAN_TYPES,
    ExchDefault,
    SpanConfig,
    exch_default,
    scenario_grid,
)

__all__ = [
    "CALC_TYPES",
    "DEFAULT_RATE",
    "EXCH_DEFAULTS",
    "MODEL_TYPES",
    "N_SCENARIOS",
    "PRC_SPAN_TYPES",
    "SPAN_FIELDS",
    "VOL_SPAN_TYPES",
    "DivStringError",
    "ExchDefault",
    "MarketView",
    "SpanConfig",
    "SpanEngine",
    "SpanInputs",
    "SpanModel",
    "bachelier_price",
    "exch_default",
    "parse_div_string",
    "scenario_grid",
    "span_values",
]
