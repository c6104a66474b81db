"""Assembly of the embedded platform: registry, bus, live tables, gateway."""

from __future__ import annotations

from dataclasses import dataclass

from .bus import InProcessBus
from .clock import Clock, LiveClock
from .gateway import ApiKeys, RestApi, RestConfig
from .schema import Registry, registry
from .store import Store

__all__ = ["Platform", "build_platform"]


@dataclass
class Platform:
    registry: Registry
    bus: InProcessBus
    store: Store
    clock: Clock
    keys: ApiKeys
    rest: RestApi


def build_platform(keys: ApiKeys, clock: Clock | None = None,
                   rest_config: RestConfig | None = None) -> Platform:
    reg = registry()
    bus = InProcessBus()
    store = Store(reg)
    store.attach(bus)
    clk = clock or LiveClock()
    rest = RestApi(reg, store, bus, keys, clk, rest_config)
    return Platform(reg, bus, store, clk, keys, rest)
