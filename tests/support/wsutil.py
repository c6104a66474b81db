"""An in-process server on a real loopback socket, for protocol tests that must also publish
server-side records (market data) while clients are connected."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from openmlink.bus import Event
from openmlink.gateway import ApiKeys, HttpLimits, Principal, ProtocolRunner, SessionConfig, make_app
from openmlink.gateway._session import Hub
from openmlink.platform import build_platform
from openmlink.schema._codec import decode_record
from tests.conftest import API_KEY, free_port


class LiveServer:
    def __init__(self, session_config: SessionConfig | None = None,
                 limits: HttpLimits | None = None) -> None:
        self.limits = limits
        keys = ApiKeys()
        keys.add(Principal(API_KEY))
        keys.add(Principal("LIMITED-KEY", tokens=frozenset({"EqtMktData"})))
        self.platform = build_platform(keys)
        p = self.platform
        self.hub = Hub(p.registry, p.store, keys, p.clock, session_config, post=p.rest.post_record)
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}/mlink/json"
        self.rest = f"http://127.0.0.1:{self.port}/rest/json"
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(20):
            raise RuntimeError("server thread did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = make_app(self.platform.rest, self.hub, self.limits)
        self.runner = ProtocolRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        self.loop.run_until_complete(site.start())
        self._ready.set()
        self.loop.run_forever()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the server's loop (the tables are not thread-safe) and return its result."""
        fut = asyncio.run_coroutine_threadsafe(_acall(fn), self.loop)
        return fut.result(30)

    def publish(self, mtype: str, body: dict[str, Any]) -> None:
        mt = self.platform.registry[mtype]
        rec = decode_record(mt, body)
        self.call(lambda: self.platform.bus.publish(Event(mt, "upsert", rec,
                                                          self.platform.clock.time_ns(), True)))

    def stop(self) -> None:
        async def _stop() -> None:
            await self.runner.cleanup()
        asyncio.run_coroutine_threadsafe(_stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


async def _acall(fn: Callable[[], Any]) -> Any:
    return fn()


def quote(tk: str, bid: float, ask: float, **f: Any) -> dict[str, Any]:
    return {"pkey": {"ticker": f"{tk}-NMS-EQT"}, "bidPrice1": bid, "askPrice1": ask, **f}


def env(mtype: str, **message: Any) -> str:
    t = time.time_ns()
    ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t / 1e9)) + f".{int(t / 1000 % 1e6):06d}"
    return json.dumps({"header": {"mTyp": mtype, "sTim": ts, "encT": ts}, "message": message})
