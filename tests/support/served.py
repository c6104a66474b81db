"""``openmlink serve`` on a chosen port (to restart it on the same one), for client tests."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import requests

from tests.conftest import API_KEY, free_port

__all__ = ["LITE", "Served", "serve_on"]

#: a quick server: four underliers, no analytics, no SQL endpoint
LITE = ("--universe", "small", "--seed", "7", "--no-analytics", "--no-sql")


class Served:
    def __init__(self, port: int, proc: subprocess.Popen[bytes], log: str) -> None:
        self.port = port
        self.proc = proc
        self.log = log
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def output(self) -> str:
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()


def serve_on(*args: str, port: int | None = None, data_dir: str | None = None,
             timeout: float = 120.0) -> Served:
    """Start ``openmlink serve --api-key API_KEY ARGS`` on ``port`` (a free one when None) and
    wait until REST answers."""
    port = port or free_port()
    data_dir = data_dir or tempfile.mkdtemp(prefix="openmlink-client-test-")
    fd, log = tempfile.mkstemp(prefix="openmlink-serve-", suffix=".log")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with os.fdopen(fd, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "openmlink", "serve", "--port", str(port),
                                 "--api-key", API_KEY, "--data-dir", data_dir, *args],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    s = Served(port, proc, log)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{s.output()}")
        try:
            requests.get(f"{s.url}/rest/json", timeout=1)
            return s
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.2)
    s.stop()
    raise RuntimeError(f"server did not start within {timeout} s:\n{s.output()}")
