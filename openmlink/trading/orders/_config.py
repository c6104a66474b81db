"""Order-manager settings (all have working defaults)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TradingConfig"]


@dataclass(frozen=True, slots=True)
class TradingConfig:
    #: seed of the venue and of every random child-size draw (deterministic runs)
    seed: int = 1
    #: order-rate limits (posts of SpdrParentOrder/SpdrParentLimit/SpdrParentCancel):
    #: sustained posts per second and burst, per API key and per account (inferred defaults;
    #: MLink throttles clients, the seed paces itself to a few orders a second)
    key_rate: float = 200.0
    key_burst: int = 400
    accnt_rate: float = 100.0
    accnt_burst: int = 200
    #: period of the order manager's timer (venue latencies, expiries, progress), seconds
    timer_s: float = 0.02
    #: most orders accepted since the last tick that one step of a tick works; 0 = the whole
    #: tick in one step (default: measured, each slice repeats the batch's fixed cost and at
    #: 1,000 posts/s that cost more in queueing than the shorter steps saved; docs/trading.md
    #: "Issue 11 sixth pass").  > 0: a tick with more works them in slices, each journaled and
    #: published on its own, and the runtime answers posts between slices
    #: (``OrderEngine.tick_steps``)
    tick_slice: int = 0
    #: journal commits call fsync (power-loss safe) when True; otherwise WAL writes reach the
    #: OS before the commit returns (safe against kill -9, not against power loss)
    fsync: bool = False
    #: group commit of order posts (opt-in; inferred, see docs/trading.md "Durability"): the state
    #: changes a SpdrParentOrder post causes are journaled, then published, with the next
    #: timer tick's commit (one SQLite transaction for every post of the period) instead of
    #: one commit per post; the posted order itself is persisted by the record store before
    #: its PostAck, and a restart works orders the journal never saw.  At most
    #: ``group_commit_max`` journal rows wait (then the post commits at once).
    group_commit: bool = False
    group_commit_max: int = 4096
    #: an order whose limit leaves the venue nothing to work re-checks at most this often (s)
    reprice_min_s: float = 0.0
    #: most children a broker keeps live (per exchange one child)
    max_make_exchanges: int = 4
    #: exchanges a maker child may be posted on, in preference order (OptExch names)
    make_exchanges: tuple[str, ...] = ("CBOE", "ISE", "PHLX", "AMEX", "BOX", "MIAX", "NSDQ",
                                       "BATS", "C2", "GMNI", "EDGO", "MPRL", "MEMX", "EMLD")
