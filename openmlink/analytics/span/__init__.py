"""SPAN risk arrays (pure kernels): ``scenario_grid`` (scenario underlier prices and vols),
``span_values`` (per-share values per ``spanCalcType``), ``bachelier_price``,
``parse_div_string``.  The SpanRiskCalculator engine is ``openmlink.engines.span``;
conventions in docs/span.md.
"""

from ._divstring import DivStringError, parse_div_string
from ._kernel import CALC_TYPES, MODEL_TYPES, SpanModel, bachelier_price, span_values
from ._scenarios import (
    DEFAULT_CONFIG,
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
    "DEFAULT_CONFIG",
    "EXCH_DEFAULTS",
    "MODEL_TYPES",
    "N_SCENARIOS",
    "PRC_SPAN_TYPES",
    "SPAN_FIELDS",
    "VOL_SPAN_TYPES",
    "DivStringError",
    "ExchDefault",
    "SpanConfig",
    "SpanModel",
    "bachelier_price",
    "exch_default",
    "parse_div_string",
    "scenario_grid",
    "span_values",
]
