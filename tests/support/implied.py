"""One Loop pass of a real implied-quote engine over given market messages, for the engine's
tests: the engine on a ``RecordingBus`` at a ``SimClock``, the messages stored (not computed:
``ready`` False), then one pass; what that pass published, as columns per type."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from openmlink.bus import RecordingBus
from openmlink.clock import SimClock
from openmlink.engines.implied import EngineConfig, ImpliedQuoteEngine

__all__ = ["Published", "one_loop"]

#: the columns of every batch of a type a Loop pass published, concatenated
Published = Callable[[str], dict[str, np.ndarray]]


def one_loop(msgs: Iterable[Any], t0: int, config: EngineConfig | None = None,
             master: Callable[[], Any] | None = None) -> tuple[ImpliedQuoteEngine, Published]:
    """(the engine, ``published(type)``) after one Loop pass at ``t0`` over ``msgs``."""
    bus = RecordingBus()
    eng = ImpliedQuoteEngine(bus, SimClock(t0), config or EngineConfig(), master=master)
    eng.attach()
    eng.ready = False
    for m in msgs:
        bus.publish(m)
    eng.ready = True
    n0 = len(bus.published)
    eng.on_timer()
    out = bus.published[n0:]

    def published(name: str) -> dict[str, np.ndarray]:
        ms = [m for m in out if m.mt.name == name]
        return {k: np.concatenate([np.asarray(m.data[k]) for m in ms]) for k in ms[0].data}
    return eng, published
