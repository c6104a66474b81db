"""Running the ``openmlink`` command as a real process and reading what it says on stderr."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time

from tests.conftest import free_port

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
    """``openmlink serve ARGS`` on a free port, its stderr collected line by line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        """``env``: variables added to the test process's environment."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        self._cv = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "openmlink", "serve", "--port", str(self.port), *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**_ENV, **(env or {})})
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cv:
                self.lines.append(line.rstrip("\n"))
                self._cv.notify_all()
        with self._cv:
            self._cv.notify_all()

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first stderr line matching ``pattern`` (AssertionError with what was said if
        none within ``timeout`` seconds or the process ended)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for ln in self.lines:
                    if m := rx.search(ln):
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no line matching {pattern!r}; stderr was:\n"
                                         + "\n".join(self.lines))
                self._cv.wait(min(left, 0.2))

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
        finally:
            self._reader.join(5)
            if self.proc.stderr is not None:
                self.proc.stderr.close()
