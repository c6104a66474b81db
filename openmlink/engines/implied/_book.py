"""The engine's market state as columns: option NBBOs, expiries, roots and underliers.

Options are rows found by a 64-bit composite key (root code 16 bits | expiry days 17 bits |
put bit | strike in 1/1000 30 bits) kept sorted for ``np.searchsorted`` lookups, so a batch of
quotes is located without a Python loop per row.  Expiries are (root, date) pairs; each carries
its settlement instant and the results of its last forward estimate and smile fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from numpy.typing import NDArray

from ...analytics import SMILE_WIDTH
from ...market import CLOSE_TIME, OPEN_TIME, local_ns

__all__ = ["Book", "RootInfo"]

_EPOCH = date(1970, 1, 1)


@dataclass
class RootInfo:
    """What the engine needs of an option root: its underlier, exercise and settlement."""

    root: str
    underlier: str
    american: bool
    settlement: str = "PM"  # AM or PM (ExerciseTime member)


def _low32(x: int) -> int:
    """The signed low 32 bits of x (a date key packed under a root code)."""
    lo = x & 0xFFFFFFFF
    return lo - (1 << 32) if lo >= 1 << 31 else lo


def _grow(a: NDArray, n: int, fill: float | int) -> NDArray:
    out = np.full(n, fill, dtype=a.dtype)
    out[: len(a)] = a
    return out


class Book:
    """Columns of option rows, expiries and underliers (grown by doubling)."""

    def __init__(self, capacity: int = 1024) -> None:
        cap = max(16, capacity)
        self.n = 0
        self.key = np.zeros(cap, np.uint64)
        self.root = np.zeros(cap, np.int32)
        self.dt = np.zeros(cap, np.int32)
        self.strike = np.zeros(cap, np.float64)
        self.cp = np.zeros(cap, np.int8)  # 0 call, 1 put
        self.exp = np.zeros(cap, np.int32)
        self.bid = np.full(cap, np.nan)
        self.ask = np.full(cap, np.nan)
        self.src_ts = np.zeros(cap, np.int64)
        self._sorted_keys = np.zeros(0, np.uint64)
        self._sorted_rows = np.zeros(0, np.int64)
        self._order_version = -1
        self.version = 0  # bumps when rows are added
        self._exp_order: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None
        # roots
        self.roots: list[RootInfo] = []
        self.root_code: dict[str, int] = {}
        # expiries
        self.n_exp = 0
        self.exp_code: dict[tuple[int, int], int] = {}
        ec = 64
        self.exp_root = np.zeros(ec, np.int32)
        self.exp_dt = np.zeros(ec, np.int32)
        self.exp_settle_ns = np.zeros(ec, np.int64)
        self.exp_und = np.zeros(ec, np.int32)
        self.exp_fwd = np.full(ec, np.nan)  # forward at exp_fit_spot
        self.exp_fit_spot = np.full(ec, np.nan)
        self.exp_rate = np.full(ec, np.nan)
        self.exp_q = np.full(ec, np.nan)  # implied carry yield (net of discrete dividends)
        self.exp_ddiv = np.zeros(ec, np.float64)  # PV of discrete dividends before expiry
        self.exp_ddiv_cash = np.zeros(ec, np.float64)
        self.exp_params = np.full((ec, SMILE_WIDTH), np.nan)
        self.exp_rmse = np.full(ec, np.nan)
        self.exp_arb = np.zeros(ec, bool)  # the smile has butterfly arbitrage in its range
        # calendar check against the previous expiry of the underlier (``_calendar``): that
        # expiry (-1: none or no violation), the largest relative total-variance shortfall,
        # the pair's common fitted ln(K/F) range
        self.exp_cal_prev = np.full(ec, -1, np.int32)
        self.exp_cal_short = np.full(ec, np.nan)
        self.exp_cal_lo = np.full(ec, np.nan)
        self.exp_cal_hi = np.full(ec, np.nan)
        self.exp_npts = np.zeros(ec, np.int32)
        self.exp_ncall = np.zeros(ec, np.int32)
        self.exp_nput = np.zeros(ec, np.int32)
        self.exp_fit_ns = np.zeros(ec, np.int64)
        self.exp_years = np.full(ec, np.nan)
        # underliers
        self.und_code: dict[str, int] = {}
        self.und_names: list[str] = []
        self.und_bid = np.full(16, np.nan)
        self.und_ask = np.full(16, np.nan)
        self.und_ts = np.zeros(16, np.int64)

    # ------------------------------------------------------------------ roots / underliers
    def underlier(self, symbol: str) -> int:
        u = self.und_code.get(symbol)
        if u is None:
            u = len(self.und_names)
            self.und_code[symbol] = u
            self.und_names.append(symbol)
            if u >= len(self.und_bid):
                n = 2 * len(self.und_bid)
                self.und_bid = _grow(self.und_bid, n, np.nan)
                self.und_ask = _grow(self.und_ask, n, np.nan)
                self.und_ts = _grow(self.und_ts, n, 0)
        return u

    def set_root(self, info: RootInfo) -> int:
        """Add or replace a root's terms (expiries already known keep their settlement)."""
        c = self.root_code.get(info.root)
        self.underlier(info.underlier)
        if c is None:
            c = len(self.roots)
            self.root_code[info.root] = c
            self.roots.append(info)
        else:
            self.roots[c] = info
            for e in np.flatnonzero(self.exp_root[: self.n_exp] == c).tolist():
                self.exp_und[e] = self.und_code[info.underlier]
        return c

    def root_of(self, name: str) -> int:
        c = self.root_code.get(name)
        if c is None:  # unknown root: its own underlier, American, PM (an equity default)
            c = self.set_root(RootInfo(name, name, True, "PM"))
        return c

    def mid(self) -> NDArray[np.float64]:
        """Underlier mid prices (NaN where there is no usable quote; one side if only one)."""
        n = len(self.und_names)
        b, a = self.und_bid[:n], self.und_ask[:n]
        with np.errstate(invalid="ignore"):
            two = (b > 0) & (a > 0)
            return np.where(two, 0.5 * (b + a), np.where(b > 0, b, np.where(a > 0, a, np.nan)))

    # ------------------------------------------------------------------ expiries
    def expiry(self, root: int, dt: int, settle_ns: int = 0) -> int:
        e = self.exp_code.get((root, dt))
        if e is None:
            e = self.n_exp
            if e >= len(self.exp_root):
                self._grow_exp(2 * len(self.exp_root))
            self.exp_code[(root, dt)] = e
            self.n_exp += 1
            self._exp_order = None
            info = self.roots[root]
            self.exp_root[e] = root
            self.exp_dt[e] = dt
            self.exp_und[e] = self.und_code[info.underlier]
            d = _EPOCH + timedelta(days=int(dt))
            self.exp_settle_ns[e] = settle_ns or local_ns(
                d, OPEN_TIME if info.settlement == "AM" else CLOSE_TIME)
        elif settle_ns:
            self.exp_settle_ns[e] = settle_ns
        return e

    def _grow_exp(self, n: int) -> None:
        for name in ("exp_root", "exp_dt", "exp_settle_ns", "exp_und", "exp_npts", "exp_ncall",
                     "exp_nput", "exp_fit_ns"):
            setattr(self, name, _grow(getattr(self, name), n, 0))
        for name in ("exp_fwd", "exp_fit_spot", "exp_rate", "exp_q", "exp_rmse", "exp_years",
                     "exp_cal_short", "exp_cal_lo", "exp_cal_hi"):
            setattr(self, name, _grow(getattr(self, name), n, np.nan))
        for name in ("exp_ddiv", "exp_ddiv_cash"):
            setattr(self, name, _grow(getattr(self, name), n, 0.0))
        self.exp_arb = _grow(self.exp_arb, n, False)
        self.exp_cal_prev = _grow(self.exp_cal_prev, n, -1)
        p = np.full((n, SMILE_WIDTH), np.nan)
        p[: len(self.exp_params)] = self.exp_params
        self.exp_params = p

    # ------------------------------------------------------------------ option rows
    @staticmethod
    def make_keys(root: NDArray, dt: NDArray, strike: NDArray, cp: NDArray) -> NDArray[np.uint64]:
        k = np.rint(np.asarray(strike, np.float64) * 1000.0).astype(np.uint64) & np.uint64(2**30 - 1)
        return ((np.asarray(root, np.uint64) << np.uint64(48))
                | ((np.asarray(dt, np.uint64) & np.uint64(2**17 - 1)) << np.uint64(31))
                | (np.asarray(cp, np.uint64) << np.uint64(30)) | k)

    def _index(self) -> None:
        if self._order_version != self.version:
            o = np.argsort(self.key[: self.n], kind="stable")
            self._sorted_keys = self.key[: self.n][o]
            self._sorted_rows = o.astype(np.int64)
            self._order_version = self.version

    def rows_for(self, root: NDArray, dt: NDArray, strike: NDArray,
                 cp: NDArray) -> NDArray[np.int64]:
        """Rows of the given options, added when new (vectorised)."""
        keys = self.make_keys(root, dt, strike, cp)
        self._index()
        if len(self._sorted_keys):
            pos = np.minimum(np.searchsorted(self._sorted_keys, keys), len(self._sorted_keys) - 1)
            found = self._sorted_keys[pos] == keys
            rows = np.where(found, self._sorted_rows[pos], -1)
        else:
            found = np.zeros(len(keys), bool)
            rows = np.full(len(keys), -1, np.int64)
        new = np.flatnonzero(~found)
        if len(new):
            uk, first = np.unique(keys[new], return_index=True)
            sel = new[first]
            m = len(sel)
            self._reserve(self.n + m)
            r = np.arange(self.n, self.n + m)
            self.key[r] = uk
            self.root[r] = np.asarray(root)[sel]
            self.dt[r] = np.asarray(dt)[sel]
            self.strike[r] = np.asarray(strike)[sel]
            self.cp[r] = np.asarray(cp)[sel]
            # one expiry lookup per distinct (root, date), not per row
            pair = (self.root[r].astype(np.int64) << 32) | (self.dt[r].astype(np.int64)
                                                            & 0xFFFFFFFF)
            upair, inv = np.unique(pair, return_inverse=True)
            codes = np.array([self.expiry(int(x >> 32), _low32(x))
                              for x in upair.tolist()], np.int32)
            self.exp[r] = codes[inv.reshape(-1)]
            self.n += m
            self.version += 1
            self._exp_order = None
            self._index()
            pos = np.searchsorted(self._sorted_keys, keys[new])
            rows[new] = self._sorted_rows[pos]
        return rows.astype(np.int64)

    def _reserve(self, need: int) -> None:
        cap = len(self.key)
        if need <= cap:
            return
        while cap < need:
            cap *= 2
        for name, fill in (("key", 0), ("root", 0), ("dt", 0), ("strike", 0.0), ("cp", 0),
                           ("exp", 0), ("bid", np.nan), ("ask", np.nan), ("src_ts", 0)):
            setattr(self, name, _grow(getattr(self, name), cap, fill))

    def expiry_order(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(rows sorted by expiry, strike, call/put; offsets of each expiry in that order).

        One argsort of a composite key (expiry | strike in 1/1000 | put bit: unique per row,
        as option keys are).  Safe to call from a worker thread: the result is kept only if
        no row or expiry was added meanwhile."""
        eo = self._exp_order
        if eo is None:
            v, n, ne = self.version, self.n, self.n_exp
            ek = self.exp[:n].astype(np.uint64)
            k = np.rint(self.strike[:n] * 1000.0).astype(np.uint64) & np.uint64(2**30 - 1)
            key = (ek << np.uint64(31)) | (k << np.uint64(1)) | self.cp[:n].astype(np.uint64)
            o = np.argsort(key).astype(np.int64)
            off = np.searchsorted(self.exp[:n][o], np.arange(ne + 1)).astype(np.int64)
            eo = (o, off)
            if self.version == v and self.n_exp == ne:
                self._exp_order = eo
        return eo

    def rows_of_expiries(self, exps: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Rows of the given expiries grouped by expiry (sorted by strike, cp inside), and the
        group offsets."""
        o, off = self.expiry_order()
        lo, hi = off[exps], off[exps + 1]
        sizes = hi - lo
        goff = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
        if goff[-1] == 0:
            return np.zeros(0, np.int64), goff
        idx = np.repeat(lo - goff[:-1], sizes) + np.arange(goff[-1])
        return o[idx], goff
