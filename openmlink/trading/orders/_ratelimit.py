"""Order-rate limits: a token bucket per API key and per account (trading.md issue text)."""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["RateLimiter"]


class _Buckets:
    """Token buckets by name; at most ``cap`` names are tracked (least recently used dropped:
    a dropped bucket restarts full, which only ever forgives, never blocks)."""

    def __init__(self, rate: float, burst: int, cap: int = 100_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.cap = cap
        self._b: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def take(self, name: str, now_ns: int) -> bool:
        if self.rate <= 0:
            return True
        tokens, t = self._b.pop(name, (self.burst, now_ns))
        tokens = min(self.burst, tokens + (now_ns - t) * 1e-9 * self.rate)
        ok = tokens >= 1.0
        if ok:
            tokens -= 1.0
        self._b[name] = (tokens, now_ns)
        if len(self._b) > self.cap:
            self._b.popitem(last=False)
        return ok


class RateLimiter:
    """``check(key, accnt, now)`` returns None when a post may pass, else the reason."""

    def __init__(self, key_rate: float, key_burst: int, accnt_rate: float, accnt_burst: int) -> None:
        self._keys = _Buckets(key_rate, key_burst)
        self._accnts = _Buckets(accnt_rate, accnt_burst)

    def check(self, key: str, accnt: str, now_ns: int) -> str | None:
        if key and not self._keys.take(key, now_ns):
            return (f"order rate limit: more than {self._keys.rate:g} posts/s (burst "
                    f"{self._keys.burst:g}) on this API key; slow down and retry")
        if accnt and not self._accnts.take(accnt, now_ns):
            return (f"order rate limit: more than {self._accnts.rate:g} posts/s (burst "
                    f"{self._accnts.burst:g}) for account {accnt}; slow down and retry")
        return None
