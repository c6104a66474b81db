"""Shared fixtures: a real ``openmlink serve`` process on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import pytest
import requests
from hypothesis import HealthCheck, settings

# behaviour, not wall time: hypothesis's wall-clock checks failed pure-function properties on a
# loaded machine (tests/client/test_framing.py: "Input generation is slow: 1 valid inputs after
# 13.32 seconds", HealthCheck.too_slow); the per-example deadline (200 ms) is the same kind of
# threshold.  Timings belong in bench/.
settings.register_profile("openmlink", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("openmlink")

API_KEY = "TEST-0000-0000-0001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, base: str, proc: subprocess.Popen[bytes], log: str = "") -> None:
        self.base = base
        self.proc = proc
        self.rest = f"{base}/rest/json"
        #: the file the server's stdout and stderr go to (a pipe nobody drains would block a
        #: server that logs more than the pipe holds)
        self.log = log

    def output(self) -> str:
        """Everything the server printed so far."""
        return read_log(self.log) if self.log else ""

    def get(self, **params: object) -> list[dict]:
        params.setdefault("apiKey", API_KEY)
        r = requests.get(self.rest, params=params, timeout=30)
        return r.json()

    def post(self, body: object, **params: object) -> list[dict]:
        params.setdefault("cmd", "postmsgs")
        r = requests.post(self.rest, params=params, json=body, timeout=30,
                          headers={"Authorization": f"Bearer {API_KEY}"})
        return r.json()


def start_server(*extra: str, data_dir: str | None = None, timeout: float = 180.0) -> Server:
    """Start ``openmlink serve``; client records persist in ``data_dir`` (a fresh temporary
    directory unless given).  Returns once REST answers and the market is loaded.  Start-up is
    CPU work (imports, the universe, the first kernels): ~8 s on a quiet machine, 30-40 s
    measured on a loaded 2-core one, so ``timeout`` only guards against a server that hangs;
    one that exits is reported at once with its output."""
    port = free_port()
    if data_dir is None and "--no-persist" not in extra and "--data-dir" not in extra:
        data_dir = tempfile.mkdtemp(prefix="openmlink-test-")
    if data_dir is not None:
        extra = (*extra, "--data-dir", data_dir)
    base = f"http://127.0.0.1:{port}"
    proc, log = launch_serve(base, ["--port", str(port), "--api-key", API_KEY, *extra], timeout)
    return Server(base, proc, log)


def spawn_serve(args: list[str], env: dict[str, str] | None = None
                ) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``openmlink serve ARGS`` (``env``: variables added to this process's) with its
    stdout and stderr in a new log file (a pipe nobody drains would block a server that prints
    more than the pipe holds); returns (the process, the log file's path) at once.  The one
    launcher of the tests' servers (``launch_serve``, ``support.process.ServeProcess``)."""
    fd, log = tempfile.mkstemp(prefix="openmlink-serve-", suffix=".log")
    with os.fdopen(fd, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "openmlink", "serve", *args],
                                stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    return proc, log


def read_log(log: str) -> str:
    """Everything a server started by ``spawn_serve`` printed so far."""
    with open(log, encoding="utf-8", errors="replace") as f:
        return f.read()


def launch_serve(base: str, args: list[str], timeout: float) -> tuple[subprocess.Popen[bytes], str]:
    """``spawn_serve(ARGS)``; returns once REST at ``base`` answers and ``/health`` says the
    market is not ``loading``.  A server that exits is
    reported at once with its output; one that hangs is stopped after ``timeout`` and reported
    with the output's tail."""
    proc, log = spawn_serve(args)

    def output() -> str:
        return read_log(log)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{output()}")
        try:  # REST answers, and the market is loaded (the simulators' first snapshots:
            # the port answers before them, on an empty Numba cache for several seconds)
            requests.get(f"{base}/rest/json", timeout=1)
            if requests.get(f"{base}/health", timeout=1).json().get("market") != "loading":
                return proc, log
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or its loop is busy starting
            pass
        time.sleep(0.1)
    end_process(proc)
    raise RuntimeError(f"server did not start within {timeout:g} s:\n{output()[-4000:]}")


def end_process(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM ``proc`` (if it still runs) and wait for it; SIGKILL after ``grace`` seconds."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def stop_server(s: Server) -> None:
    end_process(s.proc)
    if s.log:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(s.log)


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    s = start_server()
    yield s
    stop_server(s)
