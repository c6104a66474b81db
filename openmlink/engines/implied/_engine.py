"""The implied-quote engine: OptionNbboQuote + StockBookQuote in; LiveImpliedQuote,
LiveAtmVol and LiveSurfaceCurve out (ARCHITECTURE: engines; no sockets, no HTTP).

* Tick: every option NBBO change (bid or ask moved) publishes that option's LiveImpliedQuote
  with ``calcSource = Tick``, the underlier mid of that moment and the quote's srcTimestamp.
  An expiry seen for the first time is fitted first (forward + smile); later refits are the
  Loop's job, so the Tick path stays proportional to the quotes that changed.
* Loop: every ``loop_interval_s`` every expiry is refitted and every option republished with
  ``calcSource = Loop`` and one uPrc per underlier (the mids snapshotted when the pass starts).
  The pass (``loop_once``) runs in chunks of about ``loop_chunk_rows`` options and yields to
  the event loop between chunks, so Tick processing is never starved.  ``openmlink.runtime``
  calls it on the platform clock's time (simulated seconds under ``--speed``).

Clock (``years``): calendar time from the valuation instant to the series' settlement instant,
Act/365 in nanoseconds: (settle_ns - now_ns) / (365 * 86400e9).  Settlement is 9:30 New York
on the expiry date for AM-settled roots and 16:00 for PM-settled ones (or the
OptExpiryDefinition ``expiration`` when one was published).  The valuation instant is the
newest source timestamp seen on the market data (so chain snapshots and replays are valued at
their own time), or the injected clock before any has been seen.

Rates (docs/rates.md): the expiries of the ``rate_underliers`` (liquid European index chains:
SPX, XSP, NDX, RUT) imply a rate each by put-call parity (``analytics.parity_rates``, the box
spreads of the chain); those observations, weighted by their standard errors, give the engine's
curve (``RateCurve.implied`` over the base curve: the ``rate_curve_file``, else the shipped dated
default), which every expiry of every underlier uses at its t.  A rate-source expiry keeps its
own parity rate where it is well measured (``analytics.combine_rate``).  Rate sources are fitted
first in a pass, so the other underliers see the curve of the same market.

Per expiry: rate as above; ddiv = PV of the security master's cash
dividends with ex-date before settlement (0 without a master); forward from put-call parity
(``analytics.parity_forward``; American roots: ``analytics.american_parity_forward``, parity of
the de-Americanised quotes, so that call and put IVs agree); sdiv =
r - ln(F / (S - ddiv)) / t, the carry implied by the forward, for every root (European index
roots too: PRICE on uPrc + uOff with Black-76 equals Black-Scholes on uPrc with that sdiv);
a raw-SVI fit of the out-of-the-money quote vols
(``openmlink.analytics.fit_svi``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any, ClassVar

import msgspec
import numpy as np
from numpy.typing import NDArray

from ...analytics import (
    AmericanModel,
    RateCurve,
    RowContext,
    implied_vols,
    serial_kernels,
    set_parallel,
    surface_values,
)
from ...bus import Bus, ColumnBatch, Event, Partitions, partition_of
from ...clock import Clock
from ...market import OPEN_TIME, key_ordinal, local_ns
from ...schema import datekey_from_text, registry
from ...timeutil import NS_PER_YEAR
from ._book import Book, RootInfo
from ._calendar import calendar_flags, calendar_rows
from ._curve import ImpliedCurve, base_curve
from ._enums import ordinal
from ._fit import FitInputs, FitResult, fit_expiries
from ._surfaces import surface_batches

__all__ = ["EngineConfig", "ImpliedQuoteEngine"]

_EPOCH = date(1970, 1, 1)
_LIQ = "LiveImpliedQuote"


class EngineConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Engine settings (units in the names).

    ``loop_interval_s``: seconds between Loop passes; ``loop_chunk_rows``: most options per
    chunk between yields (``on_timer`` uses exactly this); ``loop_chunk_s``: the event-loop time
    (gathering inputs, writing the fit, publishing) a chunk of the asyncio pass aims at (its
    size follows the measured rate, at least ``loop_chunk_min_rows``) -- a quote arriving during
    a pass waits about one chunk, so this bounds the Tick delay and the event loop's longest
    hold (tests/engine/test_engine_loop_ticks.py; 20 ms: 150k series held it at most 40 ms, p99
    26 ms, against 71 / 44 ms at 50 ms, same CPU, bench_engine --loop-only); ``loop_workers``: threads
    computing a pass's chunks, each chunk on one core with the serial kernels, that many at
    once (1: one chunk at a time, its kernels over the Numba threads); ``parity_strikes``:
    near-the-money strikes whose parity forwards are
    medianed; ``american_model``: ``alo``
    (accurate American IVs, forwards and sPrc) or ``baw`` (Barone-Adesi-Whaley, ~4x cheaper);
    ``rate_curve_file``: the base rate curve (docs/rates.md; "" = the shipped dated default),
    ``flat_rate``: a flat base curve instead when set;
    ``rate_underliers``: underliers whose European chains imply the curve by parity;
    ``rate_d_err``: systematic error of a parity discount factor (its rate's error adds
    ``rate_d_err / t``); ``rate_curve_err``: how far an expiry's rate may sit from the smooth
    curve; ``rate_max_se``: largest error of a parity rate that is used (``_curve.ImpliedCurve``);
    ``american_greeks``: greeks and slides of American rows in Loop records, ``alo`` (the
    default: those of the ALO model, ``analytics._american_rows``, within 1e-4 of QuantLib QD+;
    a boundary table and a 6-node slope table per expiry, side and vol bucket, ~1.5x the CPU
    of a live pass with ``baw``) or ``baw`` (Barone-Adesi-Whaley bumps).  Tick records always
    use BAW greeks (latency).
    """

    loop_interval_s: float = 60.0
    loop_chunk_rows: int = 20_000
    loop_chunk_min_rows: int = 500
    loop_chunk_s: float = 0.02
    loop_workers: int = 2
    parity_strikes: int = 7
    flat_rate: float | None = None
    rate_curve_file: str = ""
    rate_underliers: tuple[str, ...] = ("SPX", "XSP", "NDX", "RUT")
    rate_d_err: float = 1e-4
    rate_curve_err: float = 0.0025
    rate_max_se: float = 0.005
    publish_surfaces: bool = True
    american_model: AmericanModel = "alo"
    american_greeks: AmericanModel = "alo"


MasterFn = Callable[[], Any]


_Chunk = tuple[NDArray[np.int64], NDArray[np.int64], FitInputs,
               "Future[tuple[FitResult, dict[str, NDArray[np.float64]]]]"]
"""A Loop chunk in flight: its expiries, option rows, fit inputs and the worker's (fit, surface
values) to come."""

_OptionColumns = tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float64], NDArray[np.int8],
                       NDArray[np.float64] | None, NDArray[np.float64] | None, NDArray[np.int64]]
"""An OptionNbboQuote batch as book columns: root codes, expiry days, strikes, call/put, bids and
asks (None when the batch has none), source timestamps."""


class ImpliedQuoteEngine:
    """Computes LiveImpliedQuote / LiveAtmVol / LiveSurfaceCurve from quotes on a bus."""

    #: the column data it reads (and subscribes to): quotes and definitions
    READS: ClassVar[frozenset[str]] = frozenset({
        "OptionNbboQuote", "StockBookQuote", "RootDefinition", "OptExpiryDefinition"})

    def __init__(self, bus: Bus, clock: Clock, config: EngineConfig | None = None,
                 curve: RateCurve | None = None, master: MasterFn | None = None,
                 partitions: Partitions | None = None) -> None:
        self.bus = bus
        #: the underliers this engine computes (None: all); the book keeps every quote, so a
        #: partition gained is computed at once from the current market
        self.partitions = partitions
        self._owned: tuple[int, int, NDArray[np.bool_]] | None = None
        self.clock = clock
        self.config = config or EngineConfig()
        cfg = self.config
        self.rates = ImpliedCurve(curve or base_curve(cfg), cfg.rate_underliers, cfg.rate_d_err,
                                  cfg.rate_curve_err, cfg.rate_max_se)
        self._master_fn = master or (lambda: None)
        self.book = Book()
        self.market_ns = 0
        self.ready = True  # False while kernels compile: quotes are only stored
        self.preliminary = False  # True: American roots valued as European (see set_preliminary)
        self.published = 0
        self.loops = 0
        self._unsub: list[Callable[[], None]] = []
        self._mt = registry()[_LIQ]
        self._div_cache: dict[str, tuple[NDArray[np.int64], NDArray[np.float64]]] = {}
        self._div_master: object = None
        self._yields = np.zeros(0)
        self._div_flat: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]] | None = None
        self._pool: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ wiring
    def attach(self) -> None:
        """Subscribe to quotes and definitions on the bus (``READS``)."""
        for name in sorted(self.READS):
            self._unsub.append(self.bus.subscribe(name, self.on_record))

    def detach(self) -> None:
        for u in self._unsub:
            u()
        self._unsub.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def now_ns(self) -> int:
        """The valuation instant (see the module docstring)."""
        return self.market_ns or self.clock.time_ns()

    def set_preliminary(self, on: bool) -> None:
        """Preliminary values (a server's first pass while the American kernels still compile):
        every root is valued as European -- Black-76 on its parity forward, ``priceType``
        Future -- and the rows of American roots are published with ``calcSource`` None
        (neither a Tick nor a Loop value of the configured American model); the next Loop pass
        after ``set_preliminary(False)`` replaces them.  Only the serial European kernels of
        ``analytics.warm.warm_first`` run meanwhile (the process-wide
        ``analytics.set_parallel`` is off while preliminary)."""
        self.preliminary = bool(on)
        set_parallel(not on)

    def _root_american(self, rows: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Per row: its root is American (exercise style of the RootDefinition)."""
        b = self.book
        if not b.roots:
            return np.zeros(len(rows), bool)
        return np.array([ri.american for ri in b.roots], bool)[b.root[rows]]

    def _american(self, rows: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Per row: valued with the American model (never while preliminary)."""
        amer = self._root_american(rows)
        return np.zeros_like(amer) if self.preliminary else amer

    # ------------------------------------------------------------------ inbound
    def on_record(self, msg: Event | ColumnBatch) -> None:
        name = msg.mt.name
        if name == "OptionNbboQuote":
            self._on_option_quotes(msg)
        elif name == "StockBookQuote":
            self._on_stock_quotes(msg)
        elif name == "RootDefinition" and isinstance(msg, Event) and msg.kind == "upsert":
            self._on_root(msg.rec)
        elif name == "OptExpiryDefinition" and isinstance(msg, ColumnBatch):
            self._on_expiries(msg.data)

    def _on_root(self, rec: dict[str, Any]) -> None:
        root = rec.get("root")
        und = rec.get("ticker")
        if root is None:
            return
        f = registry()["RootDefinition"]
        ex = f.field("exerciseType").enum.names[int(rec.get("exerciseType", 0) or 0)]  # type: ignore[union-attr]
        tm = f.field("exerciseTime").enum.names[int(rec.get("exerciseTime", 0) or 0)]  # type: ignore[union-attr]
        self.book.set_root(RootInfo(root.tk, und.tk if und is not None else root.tk,
                                    ex != "European", "AM" if tm == "AM" else "PM"))

    def _on_expiries(self, data: Any) -> None:
        if "ekey.tk" not in data or "expiration" not in data:
            return
        tks = np.asarray(data["ekey.tk"], dtype=object)
        for tk, dt, ns in zip(tks.tolist(), np.asarray(data["ekey.dt"]).tolist(),
                              np.asarray(data["expiration"]).tolist(), strict=True):
            self.book.expiry(self.book.root_of(str(tk)), int(dt), int(ns))

    def _on_stock_quotes(self, msg: Event | ColumnBatch) -> None:
        b = self.book
        if isinstance(msg, ColumnBatch):
            d = msg.data
            syms = np.asarray(d["ticker.tk"], dtype=object).tolist()
            bid = np.asarray(d.get("bidPrice1", np.full(len(syms), np.nan)), np.float64)
            ask = np.asarray(d.get("askPrice1", np.full(len(syms), np.nan)), np.float64)
            ts = np.asarray(d.get("srcTimestamp", np.zeros(len(syms))), np.int64)
        else:
            rec = msg.rec
            if msg.kind != "upsert" or rec.get("ticker") is None:
                return
            syms = [rec["ticker"].tk]
            u0 = b.und_code.get(syms[0])
            bid = np.array([rec.get("bidPrice1", b.und_bid[u0] if u0 is not None else np.nan)],
                           np.float64)
            ask = np.array([rec.get("askPrice1", b.und_ask[u0] if u0 is not None else np.nan)],
                           np.float64)
            ts = np.array([rec.get("srcTimestamp", 0) or 0], np.int64)
        u = np.array([b.underlier(str(s)) for s in syms], np.int64)
        b.und_bid[u] = bid
        b.und_ask[u] = ask
        b.und_ts[u] = ts
        if len(ts):
            self.market_ns = max(self.market_ns, int(ts.max()))

    def _option_columns(self, msg: Event | ColumnBatch) -> _OptionColumns | None:
        b = self.book
        if isinstance(msg, ColumnBatch):
            d = msg.data
            tk = np.asarray(d["okey.tk"], dtype=object)
            uniq, inv = np.unique(tk.astype(str), return_inverse=True)
            codes = np.array([b.root_of(str(w)) for w in uniq.tolist()], np.int32)[inv.reshape(-1)]
            dt = np.asarray(d["okey.dt"], np.int32)
            xx = np.asarray(d["okey.xx"], np.float64)
            cp = np.asarray(d["okey.cp"], np.int8)
            m = len(dt)
            bid = np.asarray(d["bidPrice"], np.float64) if "bidPrice" in d else None
            ask = np.asarray(d["askPrice"], np.float64) if "askPrice" in d else None
            ts = np.asarray(d.get("srcTimestamp", np.zeros(m)), np.int64)
            return codes, dt, xx, cp, bid, ask, ts
        rec = msg.rec
        k = rec.get("okey")
        if msg.kind != "upsert" or k is None or k.dt is None or k.cp is None:
            return None
        codes = np.array([b.root_of(k.tk)], np.int32)
        dt = np.array([datekey_from_text(k.dt)], np.int32)
        xx = np.array([float(k.xx)])
        cp = np.array([0 if k.cp == "Call" else 1], np.int8)
        bid = np.array([rec["bidPrice"]], np.float64) if "bidPrice" in rec else None
        ask = np.array([rec["askPrice"]], np.float64) if "askPrice" in rec else None
        ts = np.array([rec.get("srcTimestamp", 0) or 0], np.int64)
        return codes, dt, xx, cp, bid, ask, ts

    def _on_option_quotes(self, msg: Event | ColumnBatch) -> None:
        cols = self._option_columns(msg)
        if cols is None:
            return
        codes, dt, xx, cp, bid, ask, ts = cols
        b = self.book
        rows = b.rows_for(codes, dt, xx, cp)
        old_b, old_a = b.bid[rows].copy(), b.ask[rows].copy()
        if bid is not None:
            b.bid[rows] = bid
        if ask is not None:
            b.ask[rows] = ask
        b.src_ts[rows] = ts
        if len(ts):
            self.market_ns = max(self.market_ns, int(ts.max()))
        changed = ~(_same(old_b, b.bid[rows]) & _same(old_a, b.ask[rows]))
        if not self.ready:
            return
        rows = np.unique(rows[changed])
        if self.partitions is not None and len(rows):
            rows = rows[self.owned_underliers()[b.exp_und[b.exp[rows]]]]
        if len(rows):
            self.tick(rows)

    def owned_underliers(self) -> NDArray[np.bool_]:
        """Per underlier code of the book: whether this engine computes it."""
        names = self.book.und_names
        if self.partitions is None:
            return np.ones(len(names), bool)
        ver = self.partitions.version
        c = self._owned
        if c is None or c[0] != ver or c[1] != len(names):
            own = self.partitions.owns
            c = self._owned = (ver, len(names), np.fromiter((own(u) for u in names), bool,
                                                            len(names)))
        return c[2]

    # ------------------------------------------------------------------ computing
    def tick(self, rows: NDArray[np.int64]) -> None:
        """Publish Tick records for option rows (fitting never-fitted expiries first)."""
        b = self.book
        am = self.config.american_model
        val = self.now_ns()
        spots = b.mid()
        exps = np.unique(b.exp[rows]).astype(np.int64)
        unfit = exps[b.exp_fit_ns[exps] == 0]
        ctx = None
        if len(unfit):
            frows, fctx, fbid, fask = self.fit(unfit, spots, val)
            if len(frows) == len(rows) and np.array_equal(np.sort(frows), rows):
                # every ticked row was just fitted (a first load): the fit's vols are these
                # rows' Tick vols, no second solve
                order = np.argsort(frows, kind="stable")
                ctx = fctx.subset(order)
                bid_iv, ask_iv = fbid[order], fask[order]
            else:
                pos = np.full(b.n, -1, np.int64)
                pos[frows] = np.arange(len(frows))
                idx = pos[rows]
                done = idx >= 0
                ctx = self.context(rows, spots, val)
                ctx.fwd[done] = fctx.fwd[idx[done]]  # exactly the fitted forward
                bid_iv = np.full(len(rows), np.nan)
                ask_iv = np.full(len(rows), np.nan)
                bid_iv[done], ask_iv[done] = fbid[idx[done]], fask[idx[done]]
                rest = np.flatnonzero(~done)
                if len(rest):
                    sub = ctx.subset(rest)
                    guess = np.full(len(rest), np.nan)
                    bid_iv[rest] = implied_vols(b.bid[rows[rest]], sub, guess, am)
                    ask_iv[rest] = implied_vols(b.ask[rows[rest]], sub, guess, am)
        if ctx is None:
            ctx = self.context(rows, spots, val)
            guess = np.full(len(rows), np.nan)
            bid_iv = implied_vols(b.bid[rows], ctx, guess, am)
            ask_iv = implied_vols(b.ask[rows], ctx, guess, am)
        self._publish(rows, ctx, bid_iv, ask_iv, "Tick", b.src_ts[rows])

    def context(self, rows: NDArray[np.int64], spots: NDArray[np.float64], val: int) -> RowContext:
        b = self.book
        e = b.exp[rows]
        s = spots[b.exp_und[e]]
        t = (b.exp_settle_ns[e] - val) / NS_PER_YEAR
        r = b.exp_rate[e]
        r = np.where(np.isfinite(r), r, self.rates.curve.rate(np.maximum(t, 0.0)))
        q = b.exp_q[e]
        ddiv = b.exp_ddiv[e]
        with np.errstate(all="ignore"):
            f_now = (s - ddiv) * np.exp((r - q) * t)
        fwd = np.where(np.isfinite(f_now) & (s > 0), f_now, b.exp_fwd[e])
        amer = self._american(rows)
        return RowContext(s, fwd, b.strike[rows], np.where(b.cp[rows] == 0, 1.0, -1.0), t, r, q,
                          ddiv, amer, b.exp_params[e])

    def fit(self, exps: NDArray[np.int64], spots: NDArray[np.float64], val: int
            ) -> tuple[NDArray[np.int64], RowContext, NDArray[np.float64], NDArray[np.float64]]:
        """Forward, carry and SVI smile of expiries ``exps`` (inputs gathered from the book,
        ``fit_expiries`` pure, results written back to the book and the surface records
        published); returns (rows, their context after the fit, bid vols, ask vols)."""
        rows, inp = self._fit_inputs(exps, spots, val)
        res = fit_expiries(inp)
        self._apply_fit(exps, inp, res, val)
        return rows, res.ctx, res.bid_iv, res.ask_iv

    def _apply_fit(self, exps: NDArray[np.int64], inp: FitInputs, res: FitResult, val: int) -> None:
        """Write a fit's results to the book and publish the expiries' surface records."""
        b = self.book
        b.exp_fwd[exps] = res.fwd
        b.exp_fit_spot[exps] = inp.s
        b.exp_rate[exps] = inp.r
        b.exp_q[exps] = res.q
        b.exp_ddiv[exps] = inp.ddiv
        b.exp_years[exps] = inp.t
        b.exp_params[exps] = res.params
        b.exp_rmse[exps] = res.rmse
        b.exp_arb[exps] = ~res.arb_free
        b.exp_npts[exps] = res.npts
        b.exp_ncall[exps] = res.ncall
        b.exp_nput[exps] = res.nput
        b.exp_fit_ns[exps] = max(val, 1)
        calendar_flags(b, exps)
        if self.config.publish_surfaces and len(exps):
            now = self.clock.time_ns()
            for batch in surface_batches(b, exps, inp.s, res.npairs, inp.qd, now):
                self.bus.publish(batch)

    def _fit_inputs(self, exps: NDArray[np.int64], spots: NDArray[np.float64], val: int
                    ) -> tuple[NDArray[np.int64], FitInputs]:
        """The option rows of ``exps`` (grouped by expiry) and what their fit needs."""
        b = self.book
        t = (b.exp_settle_ns[exps] - val) / NS_PER_YEAR
        rows, goff = b.rows_of_expiries(exps)
        s = spots[b.exp_und[exps]]
        r = self.rates.expiry_rates(b, exps, rows, goff, t, s, val)
        amer = self._american(rows)
        return rows, FitInputs(t=t, r=r, ddiv=self._ddiv(exps, val, r), s=s,
                               qd=self._yield(exps), params=b.exp_params[exps], goff=goff,
                               strike=b.strike[rows], cp=b.cp[rows], bid=b.bid[rows],
                               ask=b.ask[rows], american=amer,
                               parity_strikes=self.config.parity_strikes,
                               american_model=self.config.american_model)

    def _master(self) -> Any:
        """The security master, resetting the per-underlier caches when it changes."""
        m = self._master_fn()
        if m is not self._div_master:
            self._div_cache.clear()
            self._div_master = m
            self._yields = np.zeros(0)
            self._div_flat = None
        return m

    def _yield(self, exps: NDArray[np.int64]) -> NDArray[np.float64]:
        """Continuous dividend yield of the security master per expiry (0 without one)."""
        m = self._master()
        b = self.book
        if m is None:
            return np.zeros(len(exps))
        if len(self._yields) != len(b.und_names):  # new underliers: extend the cache
            ys = np.zeros(len(b.und_names))
            ys[: len(self._yields)] = self._yields
            for i in range(len(self._yields), len(b.und_names)):
                with contextlib.suppress(KeyError):
                    ys[i] = float(m.dividend_yield(b.und_names[i]))
            self._yields = ys
        return self._yields[b.exp_und[exps]]

    def _dividends(self, m: Any) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """(offsets by underlier code, ex-date instants, amounts) of the master's cash
        dividends, flattened over the book's underliers (cached until new ones appear)."""
        b = self.book
        if self._div_flat is not None and len(self._div_flat[0]) == len(b.und_names) + 1:
            return self._div_flat
        exs: list[NDArray[np.int64]] = []
        amts: list[NDArray[np.float64]] = []
        for name in b.und_names:
            dv = self._div_cache.get(name)
            if dv is None:
                try:
                    lst = m.dividends(name, m.today - timedelta(days=7))
                except KeyError:
                    lst = []
                dv = (np.array([local_ns(d.ex_date, OPEN_TIME) for d in lst], np.int64),
                      np.array([d.amount for d in lst], np.float64))
                self._div_cache[name] = dv
            exs.append(dv[0])
            amts.append(dv[1])
        off = np.concatenate(([0], np.cumsum([len(x) for x in exs]))).astype(np.int64)
        self._div_flat = (off, np.concatenate([np.zeros(0, np.int64), *exs]),
                          np.concatenate([np.zeros(0), *amts]))
        return self._div_flat

    def _ddiv(self, exps: NDArray[np.int64], val: int, r: NDArray[np.float64]) -> NDArray[np.float64]:
        """PV (at the curve rate) of cash dividends with ex-date in (now, settlement]."""
        out = np.zeros(len(exps))
        m = self._master()
        if m is None:
            return out
        b = self.book
        off, ex_ns, amt = self._dividends(m)
        u = b.exp_und[exps]
        cnt = off[u + 1] - off[u]
        if cnt.sum() == 0:
            b.exp_ddiv_cash[exps] = 0.0
            return out
        # one (expiry, dividend) pair per dividend of the expiry's underlier
        j = np.repeat(np.arange(len(exps)), cnt)
        start = np.repeat(off[u] - np.concatenate(([0], np.cumsum(cnt)[:-1])), cnt)
        d = start + np.arange(len(j))
        ex = ex_ns[d]
        live = (ex > val) & (ex <= b.exp_settle_ns[exps][j])
        ti = (ex - val) / NS_PER_YEAR
        pv = np.where(live, amt[d] * np.exp(-r[j] * ti), 0.0)
        out = np.asarray(np.bincount(j, pv, minlength=len(exps)), np.float64)
        b.exp_ddiv_cash[exps] = np.bincount(j, np.where(live, amt[d], 0.0), minlength=len(exps))
        return out

    # ------------------------------------------------------------------ Loop
    def _loop_expiries(self, only: NDArray[np.bool_] | None = None
                       ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Expiries with options, underlier by underlier, and their cumulative option counts
        (of the underliers this engine computes; and of those flagged in ``only``)."""
        b = self.book
        if b.n_exp == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        _, off = b.expiry_order()
        sizes = np.diff(off)
        # rate sources first: the other underliers then price on this pass's curve
        src = self.rates.sources(b, np.arange(len(sizes), dtype=np.int64))
        order = np.lexsort((b.exp_und[: len(sizes)], ~src)).astype(np.int64)
        keep = sizes[order] > 0
        if self.partitions is not None:
            keep &= self.owned_underliers()[b.exp_und[order]]
        if only is not None:
            keep &= only[b.exp_und[order]]
        order = order[keep]
        return order, np.cumsum(sizes[order])

    @staticmethod
    def _next_cut(csum: NDArray[np.int64], i: int, rows: int) -> int:
        """End of the chunk starting at expiry i: the fewest expiries reaching ``rows``."""
        start = int(csum[i - 1]) if i else 0
        j = int(np.searchsorted(csum, start + rows, side="left")) + 1
        return min(max(j, i + 1), len(csum))

    def loop_chunks(self) -> list[NDArray[np.int64]]:
        """Expiry groups of about ``loop_chunk_rows`` options, underlier by underlier."""
        order, csum = self._loop_expiries()
        chunks: list[NDArray[np.int64]] = []
        i = 0
        while i < len(order):
            j = self._next_cut(csum, i, self.config.loop_chunk_rows)
            chunks.append(order[i:j])
            i = j
        return chunks

    def observe_rate_sources(self, spots: NDArray[np.float64], val: int) -> int:
        """A partitioned engine fits (does not publish) the rate-source chains it does not
        compute, so that its rate curve is the one the engine owning them builds (docs/rates.md:
        every partition prices on the same measured curve); how many expiries were observed.
        Nothing to do without partitions (the Loop fits every source first)."""
        if self.partitions is None:
            return 0
        b = self.book
        if b.n_exp == 0:
            return 0
        _, off = b.expiry_order()
        sizes = np.diff(off)
        exps = np.arange(len(sizes), dtype=np.int64)
        und = b.exp_und[: len(sizes)]
        exps = exps[self.rates.sources(b, exps) & (sizes > 0) & ~self.owned_underliers()[und]]
        if not len(exps):
            return 0
        t = (b.exp_settle_ns[exps] - val) / NS_PER_YEAR
        rows, goff = b.rows_of_expiries(exps)
        self.rates.expiry_rates(b, exps, rows, goff, t, spots[b.exp_und[exps]], val)
        return len(exps)

    def loop_chunk(self, exps: NDArray[np.int64], spots: NDArray[np.float64], val: int) -> int:
        rows, ctx, bid_iv, ask_iv = self.fit(exps, spots, val)
        if len(rows):
            self._publish(rows, ctx, bid_iv, ask_iv, "Loop", np.zeros(len(rows), np.int64))
        return len(rows)

    def on_timer(self, now_ns: int | None = None) -> int:
        """One complete Loop pass, synchronously (tests, benchmarks): the chunks computed by the
        ``loop_workers`` threads as in ``loop_once``, applied and published in order by the
        caller; returns options done."""
        spots = self.book.mid().copy()
        val = now_ns or self.now_ns()
        self.observe_rate_sources(spots, val)
        pending: deque[_Chunk] = deque()
        n = 0
        for exps in self.loop_chunks():
            pending.append(self._submit(exps, spots, val))
            if len(pending) > self.config.loop_workers:
                c = pending.popleft()
                n += self._finish(c, *c[3].result(), val)
        while pending:
            c = pending.popleft()
            n += self._finish(c, *c[3].result(), val)
        self.loops += 1
        return n

    async def loop_once(self, partitions: frozenset[int] | None = None) -> int:
        """One Loop pass, yielding to the event loop between chunks (only over the
        underliers of ``partitions`` if given: those just gained).

        Each chunk's pure computations (the fit, the surface values, greeks and slides: the
        Numba kernels, which release the GIL) run on one of ``loop_workers`` threads
        (``_chunk_work``; ``loop_workers`` chunks at a time, so that both cores of a small machine
        compute), so the event loop keeps serving Ticks and clients meanwhile; it only gathers
        a chunk's inputs, and writes its results to the book and publishes them in pass order
        (``_loop_chunk_off_loop``).  Chunks are sized so that
        this part takes about ``loop_chunk_s`` at the rate the previous chunks ran (between
        ``loop_chunk_min_rows`` and ``loop_chunk_rows`` options).  Tested:
        tests/engines/implied/test_engine_loop_ticks.py; the longest hold is measured by
        bench/bench_engine.py."""
        if self.book._exp_order is None:  # the row ordering (a sort) off the event loop
            await asyncio.to_thread(self.book.expiry_order)
        spots = self.book.mid().copy()
        val = self.now_ns()
        cfg = self.config
        only = None
        if partitions is not None and self.partitions is not None:
            n = self.partitions.n
            only = np.fromiter((partition_of(u, n) in partitions for u in self.book.und_names),
                               bool, len(self.book.und_names))
        if partitions is None:  # the curve from every rate source, owned or not
            self.observe_rate_sources(spots, val)
        order, csum = self._loop_expiries(only)
        rows = min(cfg.loop_chunk_min_rows * 4, cfg.loop_chunk_rows)
        pending: deque[tuple[_Chunk, float]] = deque()
        n = 0
        i = 0
        while i < len(order) or pending:
            while i < len(order) and len(pending) <= cfg.loop_workers:  # the workers fed
                j = self._next_cut(csum, i, rows)
                t0 = time.perf_counter()
                pending.append((self._submit(order[i:j], spots, val), time.perf_counter() - t0))
                i = j
            c, gather = pending.popleft()
            k, held = await self._loop_chunk_off_loop(c, val)
            held += gather
            n += k
            if k and held > 0:
                rows = int(min(max(k / held * cfg.loop_chunk_s, cfg.loop_chunk_min_rows),
                               cfg.loop_chunk_rows))
            await _let_others_run()
        if partitions is None:
            self.loops += 1
        return n

    async def _loop_chunk_off_loop(self, c: _Chunk, val: int) -> tuple[int, float]:
        """Wait for a chunk's worker, then (on the event loop) write its fit to the book and
        publish its records; returns (options done, seconds the event loop spent on it)."""
        res, sv = await asyncio.wrap_future(c[3])
        t0 = time.perf_counter()
        k = self._finish(c, res, sv, val)
        return k, time.perf_counter() - t0

    def _workers(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max(1, self.config.loop_workers),
                                            thread_name_prefix="openmlink-loop")
        return self._pool

    def _submit(self, exps: NDArray[np.int64], spots: NDArray[np.float64], val: int) -> _Chunk:
        """Gather a chunk's fit inputs from the book (the caller's thread) and hand its pure
        part to a worker (``_chunk_work``)."""
        rows, inp = self._fit_inputs(exps, spots, val)
        return exps, rows, inp, self._workers().submit(self._chunk_work, inp)

    def _chunk_work(self, inp: FitInputs) -> tuple[FitResult, dict[str, NDArray[np.float64]]]:
        """A chunk's pure computations (a worker thread; the Numba kernels release the GIL):
        ``fit_expiries``, then the surface values, greeks and slides of its rows at the quotes it
        was fitted on.  With more than one worker each runs the serial kernels: a core per
        chunk, chunks side by side."""
        with serial_kernels() if self.config.loop_workers > 1 else contextlib.nullcontext():
            res = fit_expiries(inp)
            sv = self._surface(res.ctx, inp.bid, inp.ask, "Loop") if len(inp.bid) else {}
        return res, sv

    def _finish(self, c: _Chunk, res: FitResult, sv: dict[str, NDArray[np.float64]], val: int
                ) -> int:
        """Write a computed chunk's fit to the book and publish its rows (the caller's thread,
        chunks in pass order); returns its options."""
        exps, rows, inp, _ = c
        self._apply_fit(exps, inp, res, val)
        if len(rows):
            self._publish(rows, res.ctx, res.bid_iv, res.ask_iv, "Loop", np.zeros(len(rows), np.int64),
                          (inp.bid, inp.ask, sv))
        return len(rows)

    # ------------------------------------------------------------------ outbound
    def _surface(self, ctx: RowContext, bid: NDArray[np.float64], ask: NDArray[np.float64],
                 source: str) -> dict[str, NDArray[np.float64]]:
        """Surface values, greeks and slides of rows (pure: runs on a worker thread in a pass).
        Tick: few rows of many expiries, latency first: BAW greeks and slides on American rows
        (sPrc stays ALO); the Loop's follow american_greeks."""
        alo = source == "Loop" and self.config.american_greeks == "alo"
        return surface_values(ctx, bid, ask, self.config.american_model, alo_greeks=alo)

    def _publish(self, rows: NDArray[np.int64], ctx: RowContext, bid_iv: NDArray[np.float64],
                 ask_iv: NDArray[np.float64], source: str, src_ts: NDArray[np.int64],
                 quotes: tuple[NDArray[np.float64], NDArray[np.float64],
                               dict[str, NDArray[np.float64]]] | None = None) -> None:
        """Publish rows' LiveImpliedQuote records; ``quotes``: the (bid, ask, surface values)
        already computed from them (a pass's worker thread), else from the book now."""
        b = self.book
        if quotes is None:
            bid, ask = b.bid[rows], b.ask[rows]
            sv = self._surface(ctx, bid, ask, source)
        else:
            bid, ask, sv = quotes
        n = len(rows)
        now = self.clock.time_ns()
        fut = ~ctx.american
        with np.errstate(invalid="ignore"):
            bad_u = ~(ctx.spot > 0)
            # a finite sVol inside a calendar-spread violation is flagged too (_calendar)
            bad_v = ~np.isfinite(sv["sVol"]) | calendar_rows(b, rows, ctx.fwd)
            bad_p = ~np.isfinite(sv["sPrc"]) | ~(ctx.t_years > 0)
        m = _LIQ
        err = np.where(bad_u, ordinal(m, "calcErr", "InvalidUPrc"),
                       np.where(bad_v, ordinal(m, "calcErr", "InvalidSVol"),
                                np.where(bad_p, ordinal(m, "calcErr", "PricingError"),
                                         ordinal(m, "calcErr", "None")))).astype(np.int16)
        roots = np.array([r.root for r in b.roots], dtype=object)[b.root[rows]]
        unds = np.array(b.und_names, dtype=object)[b.exp_und[b.exp[rows]]]
        at, ts = key_ordinal("at", "EQT"), key_ordinal("ts", "NMS")
        qm = self._yield(b.exp[rows].astype(np.int64))
        with np.errstate(all="ignore"):
            syn = np.where(fut, ctx.fwd * np.exp(-(ctx.rate - qm) * ctx.t_years), ctx.spot)
        data: dict[str, Any] = {
            "okey.at": np.full(n, at, np.int16), "okey.ts": np.full(n, ts, np.int16),
            "okey.tk": roots, "okey.dt": b.dt[rows], "okey.xx": b.strike[rows],
            "okey.cp": b.cp[rows],
            "ticker.at": np.full(n, at, np.int16), "ticker.ts": np.full(n, ts, np.int16),
            "ticker.tk": unds,
            "uPrc": ctx.spot, "uOff": np.where(fut, ctx.fwd - ctx.spot, 0.0),
            "years": ctx.t_years, "rate": ctx.rate, "sdiv": ctx.q,
            "ddiv": ctx.ddiv, "oBid": bid, "oAsk": ask, "oBidIv": bid_iv, "oAskIv": ask_iv,
            **sv, "synSpot": syn,
            "priceType": np.where(fut, ordinal(m, "priceType", "Future"),
                                  ordinal(m, "priceType", "Equity")).astype(np.int16),
            "calcErr": err,
            "calcSource": np.where(self.preliminary & self._root_american(rows),
                                   ordinal(m, "calcSource", "None"),
                                   ordinal(m, "calcSource", source)).astype(np.int16),
            "srcTimestamp": np.asarray(src_ts, np.int64),
            "netTimestamp": np.full(n, now, np.int64), "timestamp": np.full(n, now, np.int64),
        }
        self.bus.publish(ColumnBatch(self._mt, data, now))
        self.published += n


async def _let_others_run(hops: int = 4) -> None:
    """Yield to the event loop so that work waiting on it runs before the next Loop chunk.

    One ``sleep(0)`` is not enough: the pass is queued again at once, ahead of the callbacks
    that a due timer or a socket read only schedules (timer -> future -> task wake-up is two
    hops), so a quote would wait two or three chunks.  A few zero sleeps let such chains
    finish first; each costs a few microseconds."""
    for _ in range(hops):
        await asyncio.sleep(0)


def _same(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.bool_]:
    return (a == b) | (np.isnan(a) & np.isnan(b))
