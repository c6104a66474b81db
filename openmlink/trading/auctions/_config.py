"""Auction engine settings (all have working defaults; the [I] choices of trading.md §3)."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["AuctionConfig"]


@dataclass(frozen=True, slots=True)
class AuctionConfig:
    #: seed of the simulated responders (with the noticeNumber: one RNG per auction)
    seed: int = 1
    #: flash auction window (ms); hard cap 100 ms (§3.3)
    flash_window_ms: float = 20.0
    #: block trial period (s) and longest block auction (s): activeDuration is capped here
    block_trial_s: float = 1.0
    block_max_s: float = 300.0
    #: block duration when the order gives no activeDuration (s) (inferred)
    block_default_s: float = 60.0
    #: simulated responders per auction (0: none) and their behaviour (§3.5)
    sim_responders: int = 8
    sim_participation: float = 0.8
    sim_size_scale: float = 500.0
    sim_edge_mu: float = math.log(0.5)  # vol points
    sim_edge_sigma: float = 0.6
    sim_first_mean_s: float = 3.0
    sim_step_prob: float = 0.3
    #: probability that a simulated responder limits itself AtMost25 or AtMost50 (half each:
    #: its size at most 25/50 % of the auction's size, §3.5); 0 draws nothing
    sim_at_most: float = 0.0
    #: most live auctions and responses per auction (bounded memory)
    max_auctions: int = 10_000
    max_responses: int = 1_000
    #: finished auctions kept for late responses to be answered "ended" (bounded)
    keep_finished: int = 10_000

    @property
    def flash_window_ns(self) -> int:
        return int(min(max(self.flash_window_ms, 0.0), 100.0) * 1e6)
