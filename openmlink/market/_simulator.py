"""The live market simulator: moving underliers and option NBBOs off a smooth skewed surface.

Model. Each underlier follows a Heston stochastic-volatility process with Merton jumps
(spot and variance shocks correlated by the underlier's skew ``rho``), stepped in trading
time (252 days of 6.5 hours a year). Option theoretical values come from an SSVI surface
per underlier whose ATM total variance is the Heston expected variance to each expiry (so
the term structure follows the current variance and is free of calendar arbitrage), priced
with Black-76 on the dividend-adjusted forward (European classes) or at American values
(American classes: ALO collocation on the escrowed spot S - PV(cash dividends), the same
rate, yield and surface vol; ``analytics.BoundaryTables``), floored at intrinsic.
``truth(idx)`` returns those model inputs and values for tests.
Quotes are rounded to the class's tick grid around the theo (``_quoting``).

Time. ``step(dt_ns)`` advances simulated time and returns the messages of that step
(sans-I/O, for tests with a ``SimClock``); ``run(bus, clock)`` is the asyncio driver that
calls it every ``tick_interval_ms`` of real time with ``speed`` simulated seconds per real
second, and advances the clock when it is a ``SimClock``. Every random draw comes from one
``numpy`` generator seeded by ``seed``, so a seed and a start time make a run reproducible.
"""

from __future__ import annotations

import asyncio
import math
from datetime import date, timedelta

import msgspec
import numpy as np

from ..analytics import BoundaryTables
from ..bus import Bus, ColumnBatch, Event
from ..clock import Clock, SimClock
from ..timeutil import DAYS_PER_YEAR, NS_PER_YEAR
from ._calendar import CLOSE_TIME, is_trading_day, local_ns, next_trading_day, session_state, trade_date_of
from ._columns import ms_since_midnight, msg_type, option_key_columns, ordinal, ticker_key_columns
from ._definitions import definition_messages
from ._errors import SourceError
from ._pricing import black76, bsm_price, heston_mean_variance, ssvi_total_variance
from ._quoting import quote_prices, quote_sizes, round_ask, round_bid
from ._securities import SecurityMaster
from ._universe import build_universe

__all__ = ["MarketSimulator", "SimConfig", "simulation_date"]

Message = Event | ColumnBatch
_TRADING_YEAR_S = 252 * 6.5 * 3600.0
AMER_T_STEP_S = 60.0
"""The early-exercise premium of American series is valued at the time to expiry rounded up to
this many seconds (see ``truth``)."""
_EPOCH = date(1970, 1, 1)
_STOCK_EXCH = ("NSDQ", "NYSE", "ARCA", "BATS", "EDGX", "IEX", "MEMX", "EDGA", "NQBX", "PSX")


class SimConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Simulator settings (units in the names).

    ``quote_rate``: fraction of all series requoted per tick; ``speed``: simulated seconds
    per real second; ``print_rate``: fraction of requoted series that also print a trade;
    ``stock_print_prob``: chance per tick that a stock prints.
    """

    seed: int = 0
    universe: str = "default"
    tick_interval_ms: int = 250
    quote_rate: float = 0.02
    speed: float = 1.0
    rate: float = 0.045
    print_rate: float = 0.02
    stock_print_prob: float = 0.3
    snapshot_chunk: int = 50_000
    kappa: float = 3.0


def simulation_date(t_ns: int) -> date:
    """The trade date a simulation starting at ``t_ns`` lists expiries from: today, or the
    next trading day after the close and on holidays."""
    d = trade_date_of(t_ns)
    if not is_trading_day(d) or t_ns >= local_ns(d, CLOSE_TIME):
        d = next_trading_day(d)
    return d


class MarketSimulator:
    """A seeded simulated market (a ``Source``)."""

    name = "simulator"

    def __init__(self, config: SimConfig | None = None, *, start_ns: int | None = None,
                 master: SecurityMaster | None = None) -> None:
        self.config = config or SimConfig()
        self._master = master
        self._closed = False
        #: the first snapshot (every definition and quote) is on the bus (``run``)
        self.snapshot_sent = False
        self.now_ns = 0
        self.quotes_published = 0
        if start_ns is not None:
            self.start(start_ns)

    # ------------------------------------------------------------------ setup
    @property
    def master(self) -> SecurityMaster:
        if self._master is None:
            raise RuntimeError("the simulator has not been started")
        return self._master

    @property
    def started(self) -> bool:
        return self.now_ns != 0

    def start(self, start_ns: int) -> None:
        """Build the universe as of ``start_ns`` and set the initial state."""
        cfg = self.config
        self.now_ns = int(start_ns)
        if self._master is None:
            self._master = build_universe(cfg.universe, simulation_date(start_ns), cfg.seed)
        m = self._master
        self.rng = np.random.default_rng(cfg.seed)
        us = m.underliers
        self.spot = np.array([u.spot for u in us], np.float64)
        self.ref_close = self.spot.copy()
        self.vbar = np.array([u.vol for u in us]) ** 2
        self.var = self.vbar * self.rng.uniform(0.8, 1.25, len(us))
        self.xi = np.array([u.vol_of_vol for u in us]) * np.sqrt(self.vbar)
        self.rho = np.array([u.skew for u in us])
        self.eta = np.minimum(1.2, 1.9 / (1.0 + np.abs(self.rho)))
        self.q = np.array([u.div_yield for u in us])
        self.is_index = np.array([u.is_index for u in us])
        self.spread = np.array([u.spread_ticks for u in us]) * 0.01
        self.width = np.array([u.quote_width for u in us])
        self.jump_rate = np.where(self.is_index, 1.0, 3.0)  # jumps per trading year
        self.symbols = np.array([u.symbol for u in us], dtype=object)
        roots = m.roots
        self.root_lo = np.array([r.ticks()[0] for r in roots])
        self.root_hi = np.array([r.ticks()[1] for r in roots])
        self.root_amer = np.array([r.exercise == "American" for r in roots])
        nex = max(len(r.exchanges) for r in roots)
        self.root_nex = np.array([len(r.exchanges) for r in roots])
        self.root_ex = np.array(
            [[ordinal("OptionNbboQuote", "bidExch", r.exchanges[i % len(r.exchanges)])
              for i in range(nex)] for r in roots], np.int16)
        self.stk_ex = np.array([ordinal("StockBookQuote", "bidExch1", x) for x in _STOCK_EXCH],
                               np.int16)
        s = m.series
        self.exp_und = np.array([m.underlier_index(roots[i].underlier)
                                 for i in s.exp_root.tolist()], np.int32)
        self.pv_div = self._pv_dividends()
        self.opt_volume = np.zeros(len(s), np.int64)
        self.stk_volume = np.zeros(len(us), np.int64)
        self.cluster = 0
        # boundary tables of the American values: built once per expiry and minute, any row count
        self._tables = BoundaryTables(max_tables=4 * len(s.exp_ns) + 16, min_rows=1)

    def _pv_dividends(self) -> np.ndarray:
        """Present value (at the start) of cash dividends before each expiry."""
        m = self.master
        s = m.series
        today = trade_date_of(self.now_ns)
        out = np.zeros(len(s.exp_root))
        divs = {u.symbol: m.dividends(u.symbol, today + timedelta(days=1))
                for u in m.underliers if u.div_amount > 0}
        for e, ui in enumerate(self.exp_und.tolist()):
            dl = divs.get(m.underliers[ui].symbol)
            if not dl:
                continue
            exp_day = _EPOCH + timedelta(days=int(s.exp_date_days[e]))
            for d in dl:
                if d.ex_date > exp_day:
                    break
                t = (d.ex_date - today).days / DAYS_PER_YEAR
                out[e] += d.amount * np.exp(-self.config.rate * t)
        return out

    # ------------------------------------------------------------------ dynamics
    def _evolve(self, dt_ns: int) -> None:
        dt = dt_ns / 1e9 / _TRADING_YEAR_S
        if dt <= 0:
            return
        n = len(self.spot)
        rng = self.rng
        z1 = rng.standard_normal(n)
        z2 = self.rho * z1 + np.sqrt(1.0 - self.rho**2) * rng.standard_normal(n)
        v = self.var
        sq = np.sqrt(v * dt)
        jumps = rng.poisson(self.jump_rate * dt)
        mu_j, sd_j = -0.01, 0.03
        jump = jumps * mu_j + np.sqrt(jumps) * sd_j * rng.standard_normal(n)
        comp = self.jump_rate * dt * (np.exp(mu_j + 0.5 * sd_j**2) - 1.0)
        self.spot = self.spot * np.exp(-0.5 * v * dt + sq * z1 + jump - comp)
        v_new = v + self.config.kappa * (self.vbar - v) * dt + self.xi * np.sqrt(v) * np.sqrt(dt) * z2
        self.var = np.maximum(v_new, 0.05 * self.vbar)

    # ------------------------------------------------------------------ theo values
    def theo(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(theo, forward, ATM total variance) of series ``idx`` at the current state."""
        tr = self.truth(idx)
        return tr["theo"], tr["fwd"], tr["atm_w"]

    def truth(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        """The model behind the quotes of series ``idx`` at the current state (per row):
        ``spot``, ``ddiv`` (PV of cash dividends to expiry), ``rate``, ``q`` (continuous
        yield), ``t`` (years to expiry), ``fwd`` = (spot - ddiv) e^{(rate - q) t}, ``vol`` (the
        surface vol at the strike), ``atm_w`` (ATM total variance), ``american`` (exercise
        style), ``value`` (Black-76 on fwd; American series: the Black-Scholes value on the
        escrowed spot spot - ddiv plus the ALO early-exercise premium at ``t`` rounded up to
        ``AMER_T_STEP_S``, within ~1e-5 per share of ALO at ``t``) and ``theo`` (value
        floored at intrinsic on the spot: what is quoted around)."""
        s = self.master.series
        r = self.config.rate
        t_e = np.maximum(s.exp_ns - self.now_ns, 300e9) / NS_PER_YEAR
        ue = self.exp_und
        fwd_e = (self.spot[ue] - self.pv_div) * np.exp((r - self.q[ue]) * t_e)
        theta_e = t_e * heston_mean_variance(self.var[ue], self.vbar[ue], self.config.kappa, t_e)
        disc_e = np.exp(-r * t_e)
        e = s.exp_idx[idx]
        u = s.und_idx[idx]
        k_strike = s.strike[idx]
        fwd = fwd_e[e]
        th = theta_e[e]
        t = t_e[e]
        w = ssvi_total_variance(np.log(k_strike / fwd), th, self.rho[u], self.eta[u])
        vol = np.sqrt(w / t)
        is_put = s.cp[idx] == 1
        value = black76(is_put, fwd, k_strike, np.sqrt(w), disc_e[e])
        spot = self.spot[u]
        ddiv = self.pv_div[e]
        amer = self.root_amer[s.root_idx[idx]]
        a = np.flatnonzero(amer)
        if len(a):
            # early-exercise premium at the expiry time rounded up to AMER_T_STEP_S (its boundary
            # tables then serve every requote for that long): value = euro(t) + EEP(t_q)
            step = AMER_T_STEP_S / (NS_PER_YEAR / 1e9)
            tq = np.ceil(t[a] / step) * step
            sa, ka, ra, qa = spot[a] - ddiv[a], k_strike[a], np.full(len(a), r), self.q[u[a]]
            cpa = np.where(is_put[a], -1.0, 1.0)
            am_val = self._tables.prices(sa, ka, tq, ra, qa, vol[a], cpa)
            eep = np.maximum(am_val - bsm_price(cpa, sa, ka, tq, ra, qa, vol[a]), 0.0)
            value[a] = bsm_price(cpa, sa, ka, t[a], ra, qa, vol[a]) + eep
        intrinsic = np.maximum(np.where(is_put, k_strike - spot, spot - k_strike), 0.0)
        theo = np.where(amer, np.maximum(value, intrinsic), value)
        return {"spot": spot, "ddiv": ddiv, "rate": np.full(len(idx), r), "q": self.q[u],
                "t": t, "fwd": fwd, "vol": vol, "atm_w": th, "american": amer, "value": value,
                "theo": theo}

    # ------------------------------------------------------------------ messages
    def option_quotes(self, idx: np.ndarray) -> ColumnBatch:
        """OptionNbboQuote records for series ``idx`` at the current state."""
        s = self.master.series
        rng = self.rng
        n = len(idx)
        theo, fwd, th = self.theo(idx)
        ri = s.root_idx[idx]
        lo, hi = self.root_lo[ri], self.root_hi[ri]
        msd = np.log(s.strike[idx] / fwd) / np.sqrt(th)
        jitter = rng.uniform(0.8, 1.25, n)
        bid, ask = quote_prices(theo, self.width[s.und_idx[idx]], msd, lo, hi, jitter)
        bsz, asz, cbsz, casz = quote_sizes(rng, bid, theo)
        nex = self.root_nex[ri]
        bex = self.root_ex[ri, (rng.random(n) * nex).astype(np.int64)]
        aex = self.root_ex[ri, (rng.random(n) * nex).astype(np.int64)]
        t = self.now_ns
        ms = ms_since_midnight(t)
        m = "OptionNbboQuote"
        data = option_key_columns("okey", s.tk[idx], s.dt_days[idx], s.strike[idx], s.cp[idx])
        data.update({
            "updateType": np.full(n, ordinal(m, "updateType", "PrcChange"), np.int16),
            "bidPrice": bid, "askPrice": ask,
            "bidSize": bsz, "askSize": asz, "cumBidSize": cbsz, "cumAskSize": casz,
            "bidExch": bex, "askExch": aex,
            "bidMask": np.left_shift(1, bex.astype(np.int64)),
            "askMask": np.left_shift(1, aex.astype(np.int64)),
            "bidPrice2": np.where(bid > 0, round_bid(np.maximum(bid - lo, 0.0), lo, hi), 0.0),
            "askPrice2": round_ask(ask + lo, lo, hi),
            "cumBidSize2": np.where(bid > lo, cbsz * 2, 0), "cumAskSize2": casz * 2,
            "bidTime": np.full(n, ms, np.int64), "askTime": np.full(n, ms, np.int64),
            "srcTimestamp": np.full(n, t, np.int64), "netTimestamp": np.full(n, t, np.int64),
        })
        self.quotes_published += n
        return ColumnBatch(msg_type(m), data, t)

    def _stock_bbo(self) -> tuple[np.ndarray, np.ndarray]:
        idx = self.is_index
        half = 0.5 * self.spread
        bid = np.round(np.floor((self.spot - half) / 0.01 + 1e-9) * 0.01, 2)
        ask = np.round(bid + self.spread, 2)
        lvl = np.round(self.spot, 2)
        return np.where(idx, lvl, bid), np.where(idx, lvl, ask)

    def stock_quotes(self) -> ColumnBatch:
        """StockBookQuote records of every underlier (indices: bid = ask = index level)."""
        rng = self.rng
        n = len(self.spot)
        bid, ask = self._stock_bbo()
        idx = self.is_index
        bsz = np.where(idx, 0, 100 * rng.geometric(0.25, n))
        asz = np.where(idx, 0, 100 * rng.geometric(0.25, n))
        cbidx = ordinal("StockBookQuote", "bidExch1", "CBIDX")
        bex = np.where(idx, cbidx, self.stk_ex[rng.integers(0, len(self.stk_ex), n)])
        aex = np.where(idx, cbidx, self.stk_ex[rng.integers(0, len(self.stk_ex), n)])
        t = self.now_ns
        m = "StockBookQuote"
        data = ticker_key_columns("ticker", self.symbols)
        data.update({
            "updateType": np.full(n, ordinal(m, "updateType", "PrcChange"), np.int16),
            "marketStatus": np.full(n, ordinal(m, "marketStatus", session_state(t)), np.int16),
            "bidPrice1": bid, "bidSize1": bsz, "bidExch1": bex.astype(np.int16),
            "bidMask1": np.left_shift(1, bex.astype(np.int64)),
            "askPrice1": ask, "askSize1": asz, "askExch1": aex.astype(np.int16),
            "askMask1": np.left_shift(1, aex.astype(np.int64)),
            "bidPrice2": np.where(idx, bid, np.round(bid - 0.01, 2)),
            "bidSize2": bsz * 3, "askPrice2": np.where(idx, ask, np.round(ask + 0.01, 2)),
            "askSize2": asz * 3,
            "srcTimestamp": np.full(n, t, np.int64), "netTimestamp": np.full(n, t, np.int64),
        })
        return ColumnBatch(msg_type(m), data, t)

    def stock_prints(self) -> ColumnBatch | None:
        rng = self.rng
        n = len(self.spot)
        who = np.flatnonzero((rng.random(n) < self.config.stock_print_prob) & ~self.is_index)
        if len(who) == 0:
            return None
        k = len(who)
        bid, ask = self._stock_bbo()
        side = rng.integers(1, 4, k)  # PrtSide ordinals: 1 Mid, 2 Bid, 3 Ask
        b, a = bid[who], ask[who]
        px = np.where(side == 2, b, np.where(side == 3, a, np.round(0.5 * (b + a), 4)))
        odd = rng.random(k) < 0.3
        size = np.where(odd, rng.integers(1, 100, k), 100 * rng.geometric(0.3, k))
        self.stk_volume[who] += size
        self.cluster += 1
        t = self.now_ns
        m = "StockPrint"
        data = ticker_key_columns("ticker", self.symbols[who])
        data.update({
            "prtExch": self.stk_ex[rng.integers(0, len(self.stk_ex), k)],
            "prtSize": size, "prtPrice": px,
            "prtClusterNum": np.full(k, self.cluster, np.int64), "prtClusterSize": size,
            "prtVolume": self.stk_volume[who].copy(), "mrkPrice": px,
            "clsPrice": self.ref_close[who],
            "prtType": np.where(odd, ordinal(m, "prtType", "OddLot"),
                                ordinal(m, "prtType", "RegularSequence")).astype(np.int16),
            "ebid": b, "eask": a, "ebsz": np.full(k, 100, np.int64),
            "easz": np.full(k, 100, np.int64), "eage": rng.uniform(0.0, 0.5, k),
            "prtSide": side.astype(np.int16),
            "prtTimestamp": np.full(k, t, np.int64), "netTimestamp": np.full(k, t, np.int64),
            "timestamp": np.full(k, t, np.int64),
        })
        return ColumnBatch(msg_type(m), data, t)

    def option_prints(self, quotes: ColumnBatch, idx: np.ndarray) -> ColumnBatch | None:
        rng = self.rng
        q = quotes.data
        pick = np.flatnonzero((rng.random(len(idx)) < self.config.print_rate)
                              & (q["bidPrice"] > 0))
        if len(pick) == 0:
            return None
        k = len(pick)
        series = idx[pick]
        b, a = q["bidPrice"][pick], q["askPrice"][pick]
        side = rng.integers(1, 4, k)
        px = np.where(side == 2, b, np.where(side == 3, a, np.round(0.5 * (b + a), 2)))
        size = rng.geometric(0.2, k) * np.where(rng.random(k) < 0.03, 25, 1)
        self.opt_volume[series] += size
        self.cluster += 1
        t = self.now_ns
        m = "OptionPrint"
        data = {name: col[pick] for name, col in q.items() if name.startswith("okey.")}
        data.update({
            "prtExch": q["bidExch"][pick], "prtSize": size, "prtPrice": px,
            "prtClusterNum": np.full(k, self.cluster, np.int64), "prtClusterSize": size,
            "prtType": np.full(k, ordinal(m, "prtType", "AUTO"), np.int16),
            "prtVolume": self.opt_volume[series].copy(),
            "ebid": b, "eask": a, "ebsz": q["bidSize"][pick], "easz": q["askSize"][pick],
            "eage": rng.uniform(0.0, 2.0, k),
            "bidPrice": b, "askPrice": a, "bidSize": q["bidSize"][pick],
            "askSize": q["askSize"][pick], "prtSide": side.astype(np.int16),
            "prtTimestamp": np.full(k, t, np.int64), "netTimestamp": np.full(k, t, np.int64),
            "timestamp": np.full(k, t, np.int64),
        })
        return ColumnBatch(msg_type(m), data, t)

    # ------------------------------------------------------------------ steps
    def snapshot(self) -> list[Message]:
        """Definitions, every stock quote and every option quote (in chunks)."""
        out: list[Message] = list(definition_messages(self.master, self.now_ns))
        out.append(self.stock_quotes())
        n = len(self.master.series)
        chunk = max(1, self.config.snapshot_chunk)
        for lo in range(0, n, chunk):
            out.append(self.option_quotes(np.arange(lo, min(n, lo + chunk))))
        return out

    def sample(self) -> np.ndarray:
        """Series to requote this tick (sorted, distinct); expired series are not quoted."""
        s = self.master.series
        n = len(s)
        m = round(self.config.quote_rate * n)
        if m <= 0:
            return np.zeros(0, np.int64)
        idx = np.unique(self.rng.integers(0, n, m))
        live = s.exp_ns > self.now_ns
        return idx if live.all() else idx[live[s.exp_idx[idx]]]

    def step(self, dt_ns: int) -> list[Message]:
        """Advance ``dt_ns`` of simulated time; the messages of the step."""
        self.now_ns += int(dt_ns)
        self._evolve(int(dt_ns))
        out: list[Message] = [self.stock_quotes()]
        idx = self.sample()
        if len(idx):
            q = self.option_quotes(idx)
            out.append(q)
            p = self.option_prints(q, idx)
            if p is not None:
                out.append(p)
        sp = self.stock_prints()
        if sp is not None:
            out.append(sp)
        return out

    # ------------------------------------------------------------------ Source
    def check_config(self) -> None:
        """``SourceError`` naming the first setting that cannot work."""
        c = self.config
        if not (c.speed > 0 and math.isfinite(c.speed)):
            raise SourceError(f"simulator: speed must be a positive number, not {c.speed}")
        if c.tick_interval_ms <= 0:
            raise SourceError(f"simulator: tick interval must be > 0 ms, not {c.tick_interval_ms}")
        if not 0.0 <= c.quote_rate <= 1.0:
            raise SourceError(f"simulator: quote rate must be a fraction in [0, 1], not "
                              f"{c.quote_rate}")

    def prepare(self, clock: Clock) -> str:
        """Check the settings and build the universe as of the clock's time."""
        self.check_config()
        if not self.started:
            now = clock.time_ns()
            if self._master is None:
                try:
                    self._master = build_universe(self.config.universe, simulation_date(now),
                                                  self.config.seed)
                except ValueError as e:  # the one thing build_universe refuses: the name
                    raise SourceError(f"simulator: {e}") from None
            self.start(now)
        m = self.master
        c = self.config
        return (f"simulator: universe {c.universe}, {len(m.series)} series on "
                f"{len(m.underliers)} underliers, seed {c.seed}, speed {c.speed:g}x")

    async def run(self, bus: Bus, clock: Clock) -> None:
        if not self.started:
            self.start(clock.time_ns())
        # in a thread: on an empty Numba cache the first American values compile their kernels
        # (seconds), and the server answers meanwhile (the compiler releases the GIL often)
        for msg in await asyncio.to_thread(self.snapshot):
            bus.publish(msg)
            await asyncio.sleep(0)
        self.snapshot_sent = True
        loop = asyncio.get_running_loop()
        interval = self.config.tick_interval_ms / 1000.0
        last = loop.time()
        while not self._closed:
            await asyncio.sleep(interval)
            wall = loop.time()
            dt_ns = int((wall - last) * self.config.speed * 1e9)
            last = wall
            for msg in self.step(dt_ns):
                bus.publish(msg)
            if isinstance(clock, SimClock):
                clock.advance_to(max(clock.time_ns(), self.now_ns))

    def close(self) -> None:
        self._closed = True
