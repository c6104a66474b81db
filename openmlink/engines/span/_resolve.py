"""The pure part of resolving a SpanRiskCalculator record: each ``...Src`` input is the posted
value (``User``) or the platform's live value (``Default``, gathered beforehand into
``SpanLive``), checked, and combined into ``SpanInputs``.  No store, market view or clock."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from ...analytics.span import (
    MODEL_TYPES,
    PRC_SPAN_TYPES,
    VOL_SPAN_TYPES,
    DivStringError,
    ExchDefault,
    SpanModel,
    parse_div_string,
)
from ...schema import OptionKey

__all__ = ["EXTYPES", "SpanInputError", "SpanInputs", "SpanLive", "SpanTerms", "finish_inputs",
           "is_user", "resolve_terms", "span_settings"]

EXTYPES = ("None", "American", "European", "Asian", "Cliquet")
_PCT = PRC_SPAN_TYPES.index("Pct")
_EXCH_P = PRC_SPAN_TYPES.index("Exch")
_EXCH_V = VOL_SPAN_TYPES.index("Exch")
_VPCT = VOL_SPAN_TYPES.index("Pct")


class SpanInputError(Exception):
    """A record-level input error; the message goes to ``error`` (<= 32 characters)."""


@dataclass(slots=True)
class SpanInputs:
    """The resolved inputs of one record (per share; ``S`` already times symRatio)."""

    is_option: bool
    S: float
    K: float
    t: float
    r: float
    q: float
    vol: float
    cp: float
    model: SpanModel
    prc_type: int
    prc_up: float
    prc_dn: float
    vol_type: int
    vol_span: float
    calc: int
    hedge: bool
    point_value: float
    resolved: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SpanLive:
    """The platform's live values for the record's Default inputs (None: not looked up, the
    input is User or not needed; NaN: looked up, none there)."""

    known: bool  # the security is known to the platform
    today: date  # the trade date (for divString dates)
    u: float | None = None
    point_value: float | None = None
    sym_ratio: float | None = None
    exercise: str | None = None
    years: float | None = None
    rate: float | None = None
    sdiv: float | None = None
    b76: bool = False
    dividends: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    exch: ExchDefault | None = None  # the product class's exchange spans (Exch span types)


@dataclass(frozen=True, slots=True)
class SpanTerms:
    """An option record's inputs resolved up to its vol (which the live surface gives at
    these terms)."""

    u: float
    sym: float
    K: float
    exercise: str
    t: float
    r: float
    q: float
    model_type: str
    dividends: tuple[tuple[float, ...], tuple[float, ...]] | None  # per contract (times symRatio)
    spans: tuple[int, float, float, int, float]
    calc: int
    hedge: bool
    point_value: float
    resolved: dict[str, Any]


def is_user(rec: Mapping[str, Any]) -> Callable[[str], bool]:
    """``user(name)``: whether ``nameSrc`` is User (FieldSrc User = 1)."""
    return lambda name: rec.get(name + "Src", 0) == 1


def span_settings(rec: Mapping[str, Any]) -> tuple[int, float, float, int, bool]:
    """(prcSpanType, prcSpanUp, prcSpanDn, volSpanType, whether an Exch default is needed)."""
    pt = int(rec.get("prcSpanType", _EXCH_P))
    vt = int(rec.get("volSpanType", _EXCH_V))
    return pt, float(rec.get("prcSpanUp", 0)), float(rec.get("prcSpanDn", 0)), vt, \
        pt == _EXCH_P or vt == _EXCH_V


def _spans(rec: Mapping[str, Any], exch: ExchDefault | None) -> tuple[int, float, float, int, float]:
    pt, up, dn, vt, _ = span_settings(rec)
    vs = float(rec.get("volSpan", 0))
    if not all(math.isfinite(x) and x >= 0 for x in (up, dn, vs)):
        raise SpanInputError("spans must be >= 0")
    if exch is not None:
        if pt == _EXCH_P:
            pt, up, dn = _PCT, exch.prc_up, exch.prc_dn
        if vt == _EXCH_V:
            vt, vs = _VPCT, exch.vol_span
    return pt, up, dn, vt, vs


def resolve_terms(rec: Mapping[str, Any], sec: Any, is_option: bool, live: SpanLive,
                  hedge_yes: bool) -> SpanInputs | SpanTerms:
    """Stock/future records resolve completely (``SpanInputs``); option records up to their
    vol (``SpanTerms``, finished by ``finish_inputs``).  Raises ``SpanInputError``."""
    user = is_user(rec)
    res: dict[str, Any] = {}
    if user("uPrc"):
        u = float(rec["uPrc"])
    else:
        if not live.known:
            raise SpanInputError("unknown security")
        u = math.nan if live.u is None else live.u
        if not math.isfinite(u):
            raise SpanInputError("no live uPrc")
    if not (u > 0 and math.isfinite(u)):
        raise SpanInputError("uPrc must be > 0")
    res["uPrc"] = u
    pv = float(rec["pointValue"]) if user("pointValue") else (live.point_value or math.nan)
    if not (pv > 0 and math.isfinite(pv)):
        raise SpanInputError("pointValue must be > 0")
    res["pointValue"] = pv
    spans = _spans(rec, live.exch)
    calc = int(rec.get("spanCalcType", 0))
    if not is_option:
        return SpanInputs(False, u, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, SpanModel(), spans[0], spans[1],
                          spans[2], spans[3], spans[4], calc, hedge_yes, pv, res)
    assert isinstance(sec, OptionKey)
    sym = float(rec["symRatio"]) if user("symRatio") else _num(live.sym_ratio)
    if not (sym > 0 and math.isfinite(sym)):
        raise SpanInputError("symRatio must be > 0")
    res["symRatio"] = sym
    K = float(rec["effStrike"]) if user("effStrike") else float(sec.xx)
    if not (K > 0 and math.isfinite(K)):
        raise SpanInputError("effStrike must be > 0")
    res["effStrike"] = K
    if user("exType"):
        ex = EXTYPES[rec.get("exType", 0)]
        if ex not in ("American", "European"):
            raise SpanInputError("exType: American or European")
    else:
        ex = live.exercise or "American"
    res["exType"] = EXTYPES.index(ex)
    years = float(rec["years"]) if user("years") else _num(live.years)
    if not (years >= 0 and math.isfinite(years)):
        raise SpanInputError("years must be >= 0")
    res["years"] = years
    t = years
    adj = float(rec.get("adjYears", -1.0))
    if adj != -1.0:
        t += adj
    mx = float(rec.get("maxYears", -1.0))
    if mx != -1.0 and mx >= 0:
        t = min(t, mx)
    t = max(t, 0.0)
    r = float(rec["rate"]) if user("rate") else _num(live.rate)
    q = float(rec["sdiv"]) if user("sdiv") else _num(live.sdiv)
    if not (math.isfinite(r) and math.isfinite(q)):
        raise SpanInputError("rate/sdiv must be finite")
    res["rate"], res["sdiv"] = r, q
    mt_name = MODEL_TYPES[rec.get("modelType", 0)] if user("modelType") else "None"
    if mt_name == "None":
        mt_name = "LogNormalExact"
    res["modelType"] = MODEL_TYPES.index(mt_name)
    div_t, div_a = _dividends(rec, user("div"), live)
    divs = (div_t, tuple(a * sym for a in div_a)) if div_t else None
    return SpanTerms(u, sym, K, ex, t, r, q, mt_name, divs, spans, calc, hedge_yes, pv, res)


def finish_inputs(rec: Mapping[str, Any], sec: OptionKey, terms: SpanTerms, b76: bool,
                  live_vol: float | None) -> SpanInputs:
    """An option record's inputs, given the live surface vol at its terms (None when vol is
    User)."""
    if is_user(rec)("vol"):
        vol = float(rec["vol"])
    else:
        vol = math.nan if live_vol is None else live_vol
        if not math.isfinite(vol):
            raise SpanInputError("no live vol")
    if not math.isfinite(vol) or vol < 0:
        raise SpanInputError("vol must be >= 0")
    american = terms.exercise == "American"
    model = SpanModel.from_model_type(terms.model_type, american, b76, terms.dividends)
    cp = 1.0 if sec.cp == "Call" else -1.0
    p = terms.spans
    return SpanInputs(True, terms.u * terms.sym, terms.K, terms.t, terms.r, terms.q, vol, cp, model,
                      p[0], p[1], p[2], p[3], p[4], terms.calc, terms.hedge, terms.point_value,
                      {**terms.resolved, "vol": vol})


def _dividends(rec: Mapping[str, Any], user: bool, live: SpanLive
               ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if live.b76:
        return (), ()
    if user:
        try:
            return parse_div_string(str(rec.get("divString", "")), live.today)
        except DivStringError as e:
            raise SpanInputError(str(e)) from None
    return live.dividends or ((), ())


def _num(v: float | None) -> float:
    return math.nan if v is None else float(v)
