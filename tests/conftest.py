"""Shared fixtures: a real ``openmlink serve`` process on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import pytest
import requests

API_KEY = "TEST-0000-0000-0001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, base: str, proc: subprocess.Popen[bytes]) -> None:
        self.base = base
        self.proc = proc
        self.rest = f"{base}/rest/json"

    def get(self, **params: object) -> list[dict]:
        params.setdefault("apiKey", API_KEY)
        r = requests.get(self.rest, params=params, timeout=30)
        return r.json()

    def post(self, body: object, **params: object) -> list[dict]:
        params.setdefault("cmd", "postmsgs")
        r = requests.post(self.rest, params=params, json=body, timeout=30,
                          headers={"Authorization": f"Bearer {API_KEY}"})
        return r.json()


def start_server(*extra: str, data_dir: str | None = None) -> Server:
    """Start ``openmlink serve``; client records persist in ``data_dir`` (a fresh temporary
    directory unless given)."""
    port = free_port()
    if data_dir is None and "--no-persist" not in extra and "--data-dir" not in extra:
        data_dir = tempfile.mkdtemp(prefix="openmlink-test-")
    if data_dir is not None:
        extra = (*extra, "--data-dir", data_dir)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "openmlink", "serve", "--port", str(port), "--api-key", API_KEY,
         *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            raise RuntimeError(f"server exited early:\n{out}")
        try:
            requests.get(f"{base}/rest/json", timeout=1)
            return Server(base, proc)
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or its loop is busy starting
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start within 30 s")


def stop_server(s: Server) -> None:
    s.proc.terminate()
    try:
        s.proc.wait(10)
    except subprocess.TimeoutExpired:
        s.proc.kill()
        s.proc.wait(10)
    if s.proc.stdout is not None:
        s.proc.stdout.close()


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    s = start_server()
    yield s
    stop_server(s)
