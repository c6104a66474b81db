"""Definition records of a security master: TickerDefinition, RootDefinition,
OptExpiryDefinition (exercise style, settlement time, multiplier, tick sizes)."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from ..bus import ColumnBatch, Event
from ._columns import expiry_key_columns, msg_type, ordinal, ticker_key_columns
from ._securities import OptionRoot, SecurityMaster, Underlier

__all__ = ["definition_messages", "root_definition", "ticker_definition"]


def ticker_definition(u: Underlier, n_options: int, t_ns: int) -> dict[str, Any]:
    """The internal TickerDefinition record of an underlier."""
    m = "TickerDefinition"
    return {
        "ticker": u.ticker,
        "securityID": zlib.crc32(u.symbol.encode()) & 0x7FFFFFFF,
        "symbolType": ordinal(m, "symbolType", u.symbol_type),
        "name": u.name,
        "country": "US",
        "primaryCurrency": ordinal(m, "primaryCurrency", "USD"),
        "pointValue": 1.0,
        "pointCurrency": ordinal(m, "pointCurrency", "USD"),
        "primaryExch": ordinal(m, "primaryExch", u.primary_exch),
        "symbol": u.symbol,
        "sharesOutstanding": u.shares_out_k,
        "stkPriceInc": ordinal(m, "stkPriceInc", "FullPenny"),
        "tkDefSource": ordinal(m, "tkDefSource", "SR"),
        "statusFlag": ordinal(m, "statusFlag", "Active"),
        "hasOptions": ordinal(m, "hasOptions", "Yes" if n_options else "No"),
        "numOptions": n_options,
        "reverseSkew": ordinal(m, "reverseSkew", "No"),
        "timeMetric": ordinal(m, "timeMetric", "D252"),
        "tradingPeriod": ordinal(m, "tradingPeriod", "NMS"),
        "timestamp": t_ns,
    }


def root_definition(r: OptionRoot, u: Underlier, t_ns: int) -> dict[str, Any]:
    """The internal RootDefinition record of an option root."""
    m = "RootDefinition"
    lo, _hi = r.ticks()
    physical = not r.cash_settled
    return {
        "root": r.key,
        "ticker": u.ticker,
        "osiRoot": r.root,
        "uPrcDriverType": ordinal(m, "uPrcDriverType", "Stock"),
        "underlierMode": ordinal(m, "underlierMode", "Actual"),
        "optionType": ordinal(m, "optionType", r.option_type),
        "multihedge": ordinal(m, "multihedge", "None"),
        "exerciseTime": ordinal(m, "exerciseTime", r.settlement),
        "exerciseType": ordinal(m, "exerciseType", r.exercise),
        "timeMetric": ordinal(m, "timeMetric", "D252"),
        "tradingPeriod": ordinal(m, "tradingPeriod", "NMS"),
        "pricingModel": ordinal(m, "pricingModel", "Equity"),
        "moneynessType": ordinal(m, "moneynessType", "LogStd"),
        "priceQuoteType": ordinal(m, "priceQuoteType", "Price"),
        "positionLimit": 250_000,
        "exchanges": ",".join(r.exchanges)[:64],
        "tickValue": lo * r.multiplier,
        "pointValue": r.multiplier,
        "pointCurrency": ordinal(m, "pointCurrency", "USD"),
        "strikeScale": 1.0,
        "strikeRatio": 1.0,
        "cashOnExercise": 0.0,
        "underliersPerCn": int(r.multiplier) if physical else 0,
        "premiumMult": r.multiplier,
        "symbolRatio": 1.0,
        "adjConvention": ordinal(m, "adjConvention", "OSI"),
        "optPriceInc": ordinal(m, "optPriceInc", r.price_inc()),
        "priceFormat": ordinal(m, "priceFormat", r.price_inc()),
        "minTickSize": lo,
        "tradeCurr": ordinal(m, "tradeCurr", "USD"),
        "settleCurr": ordinal(m, "settleCurr", "USD"),
        "strikeCurr": ordinal(m, "strikeCurr", "USD"),
        "defaultSurfaceRoot": r.key,
        "timestamp": t_ns,
        "Exchange": tuple({"optExch": _opt_exch(x), "root": r.key} for x in r.exchanges),
        "Underlying": ({"ticker": u.ticker, "spc": r.multiplier if physical else 0.0},),
    }


def _opt_exch(name: str) -> int:
    return ordinal("OptionNbboQuote", "bidExch", name)


def definition_messages(master: SecurityMaster, t_ns: int) -> list[Event | ColumnBatch]:
    """Every definition record of the master: one Event per ticker and root, one
    ColumnBatch of OptExpiryDefinition for all (root, expiry) pairs."""
    s = master.series
    out: list[Event | ColumnBatch] = []
    per_und = np.bincount(s.und_idx, minlength=len(master.underliers))
    td = msg_type("TickerDefinition")
    for i, u in enumerate(master.underliers):
        out.append(Event(td, "upsert", ticker_definition(u, int(per_und[i]), t_ns), t_ns))
    rd = msg_type("RootDefinition")
    for r in master.roots:
        out.append(Event(rd, "upsert", root_definition(r, master.underlier(r.underlier), t_ns),
                         t_ns))
    m = "OptExpiryDefinition"
    roots = master.roots
    n = len(s.exp_root)
    root_names = np.array([roots[i].root for i in s.exp_root.tolist()], dtype=object)
    und_names = np.array([roots[i].underlier for i in s.exp_root.tolist()], dtype=object)
    lo = np.array([roots[i].ticks()[0] for i in s.exp_root.tolist()], np.float64)
    fmt = np.array([ordinal(m, "priceFormat", roots[i].price_inc()) for i in s.exp_root.tolist()],
                   np.int16)
    cols: dict[str, Any] = expiry_key_columns("ekey", root_names, s.exp_date_days)
    cols.update(ticker_key_columns("ticker", und_names))
    cols.update({
        "uPrcDriverKeyType": np.full(n, ordinal(m, "uPrcDriverKeyType", "Stock"), np.int16),
        "expiration": s.exp_ns.astype(np.int64),
        "maturityDate": s.exp_ns.astype(np.int64),
        "displayFactor": np.ones(n),
        "priceFormat": fmt,
        "minTickSize": lo,
        "timestamp": np.full(n, t_ns, np.int64),
    })
    out.append(ColumnBatch(msg_type(m), cols, t_ns))
    return out
