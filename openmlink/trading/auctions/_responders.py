"""Seeded simulated responders (trading.md §3.5): a population of synthetic liquidity providers
drawn per auction from one RNG keyed by (seed, noticeNumber), so a run replays exactly."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._config import AuctionConfig

__all__ = ["SimResponder", "population", "step_up"]


@dataclass(slots=True)
class SimResponder:
    firm: str
    accnt: str
    price: float  # current quote
    reservation: float  # never quotes past this (toward the initiator)
    size: int
    arrive_ns: int  # when its (first) response arrives


def _x_floor(x: float, tick: float) -> float:
    return math.floor(x / tick + 1e-9) * tick


def population(cfg: AuctionConfig, notice: int, *, flash: bool, init_side: int, qty: int,
               all_or_none: bool, visibility: str, fair: float, vega: float, tick: float,
               start_ns: int, window_ns: int) -> list[SimResponder]:
    """The responders who answer this auction.  ``fair`` = surface price (else NBBO mid),
    ``vega`` per vol point; responders quote ``fair - dir·edge·vega`` (they buy below fair
    when the initiator sells), edge ~ LogNormal in vol points.  Participation probability
    ``π = base · f(size) · g(visibility)``, lower for AllOrNone.  Flash responders answer
    after 1-15 ms (those after the window are dropped); block responders after
    Exp(mean ``sim_first_mean_s``) and start one edge further away, stepping up later.  With
    ``sim_at_most`` some limit their size AtMost25/AtMost50 (25/50 % of ``qty``)."""
    if not (math.isfinite(fair) and fair > 0) or cfg.sim_responders <= 0:
        return []
    rng = np.random.default_rng([cfg.seed, notice & 0xFFFFFFFF, notice >> 32 & 0xFFFFFFFF])
    ve = vega if math.isfinite(vega) and vega > 0 else 0.01 * fair
    s = -float(init_side)  # x = s * price: higher is better for the initiator
    g = {"Neither": 0.6, "Side": 0.85}.get(visibility, 1.0)
    f = 1.0 / (1.0 + qty / cfg.sim_size_scale)
    pi = min(1.0, cfg.sim_participation * (0.5 + f) * g * (0.7 if all_or_none else 1.0))
    out: list[SimResponder] = []
    n = cfg.sim_responders
    part = rng.random(n) < pi
    edge = rng.lognormal(cfg.sim_edge_mu, cfg.sim_edge_sigma, n)
    sizes = np.maximum(1, np.minimum(qty, np.rint(rng.lognormal(math.log(max(qty, 1) / 3.0),
                                                                0.8, n)))).astype(int)
    if flash:
        lat = rng.uniform(1e6, 15e6, n)
    else:
        lat = rng.exponential(cfg.sim_first_mean_s * 1e9, n)
    if cfg.sim_at_most > 0:  # drawn after the others: a population without it replays as before
        capped = rng.random(n) < cfg.sim_at_most
        share = np.where(rng.random(n) < 0.5, 0.25, 0.50)
        cap = np.maximum(1, (share * qty).astype(int))
        sizes = np.where(capped, np.minimum(sizes, cap), sizes)
    for i in range(n):
        if not part[i]:
            continue
        arrive = start_ns + int(lat[i])
        if flash and arrive > start_ns + window_ns:
            continue  # too late for the window
        x_res = _x_floor(s * fair - edge[i] * ve, tick)
        x0 = x_res if flash else _x_floor(x_res - edge[i] * ve, tick)
        res, px = s * x_res, s * x0
        if res <= 0 or px <= 0:
            continue
        out.append(SimResponder(f"SIM{i:02d}", f"SIM.RESP.{i:02d}", round(px, 6), round(res, 6),
                                int(sizes[i]), arrive))
    return out


def step_up(sims: list[SimResponder], rng: np.random.Generator, prob: float, tick: float,
            init_side: int) -> None:
    """One block trial: each responder improves its quote by one tick toward the initiator
    with probability ``prob``, never past its reservation price."""
    s = -float(init_side)
    draws = rng.random(len(sims))
    for r, u in zip(sims, draws, strict=True):
        if u < prob and s * r.price < s * r.reservation - 1e-9:
            r.price = round(s * min(s * r.price + tick, s * r.reservation), 6)
