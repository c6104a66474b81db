"""Running the ``openmlink`` command as a real process and reading what it says on stderr."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
import weakref

from tests.conftest import free_port, read_log, spawn_serve

__all__ = ["Cli", "ServeProcess", "run_cli"]

_ENV = dict(os.environ, PYTHONUNBUFFERED="1")


class Cli:
    """What a finished command did: exit status, stderr lines, seconds it took."""

    def __init__(self, rc: int, lines: list[str], seconds: float) -> None:
        self.rc = rc
        self.lines = lines
        self.seconds = seconds

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def run_cli(*args: str, timeout: float = 20.0) -> Cli:
    """Run ``openmlink ARGS`` to its end (``timeout`` is a safety net, not a measure)."""
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "openmlink", *args], capture_output=True,
                       text=True, timeout=timeout, env=_ENV)
    return Cli(p.returncode, p.stderr.splitlines(), time.perf_counter() - t0)


class ServeProcess:
    """``openmlink serve ARGS`` on a free port (``conftest.spawn_serve``: its output in a log
    file), for tests that follow what it says on stderr line by line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        """``env``: variables added to the test process's environment."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc, self.log = spawn_serve(["--port", str(self.port), *args], env)
        weakref.finalize(self, _unlink, self.log)  # read after stop(); gone with the object

    @property
    def lines(self) -> list[str]:
        """The lines it printed so far (stdout and stderr, in order)."""
        return read_log(self.log).splitlines()

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first line matching ``pattern`` (AssertionError with what was said if none
        within ``timeout`` seconds or the process ended)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            ended = self.proc.poll() is not None  # before reading: its last lines are in
            lines = self.lines
            for ln in lines:
                if m := rx.search(ln):
                    return m
            if ended or time.monotonic() > deadline:
                raise AssertionError(f"no line matching {pattern!r}; output was:\n"
                                     + "\n".join(lines))
            time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then the exit status (killed if it does not end in ``timeout``)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
