"""Helpers for tests against a real ``openmlink serve``: starting one on a chosen port
(``serve_on``, to restart it on the same one), waiting until its market source has published its
first state (``wait_market``), reading replies, waiting for a condition, picking a listed series
from the live tables and collecting records from a WebSocket request.  ``tests.conftest``
has ``start_server``/``stop_server`` and the session ``server`` fixture."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp
import requests

from tests.conftest import API_KEY, Server, end_process, free_port, launch_serve

T = TypeVar("T")


def msgs(reply: list[dict], mtype: str) -> list[dict]:
    """The ``message`` bodies of the records of type ``mtype`` in a REST reply."""
    return [m["message"] for m in reply if m["header"]["mTyp"] == mtype]


def wait_for(pred: Callable[[], T], timeout: float = 30.0, every: float = 0.3) -> T:
    """``pred()`` once it is truthy (polled every ``every`` s), else its last value."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(every)
    return pred()


def listed_option(s: Server, cp: str, *, price: str = "oBid", above: float = 0.5,
                  min_years: float = 0.05, timeout: float = 60.0) -> dict[str, Any]:
    """The AAPL series of type ``cp`` (Call/Put) nearest the money with a surface, more than
    ``min_years`` out and ``price`` (a LiveImpliedQuote field, oBid or oAsk) above ``above``;
    raises when none shows within ``timeout`` seconds."""
    def find() -> dict[str, Any] | None:
        qs = msgs(s.get(cmd="getmsgs", msgType="LiveImpliedQuote",
                        where="okey:eq:AAPL-NMS-EQT & sVol:gt:0", limit=5000), "LiveImpliedQuote")
        c = [q for q in qs if q["pkey"]["okey"]["cp"] == cp and q.get(price, 0) > above
             and q.get("years", 0) > min_years]
        if not c:
            return None
        return min(c, key=lambda q: abs(q["pkey"]["okey"]["xx"] - q["uPrc"]))["pkey"]["okey"]
    found = wait_for(find, timeout, every=1.0)
    if not found:
        raise AssertionError(f"no AAPL surface within {timeout:g} s")
    return found


def nbbo_of(s: Server, okey: dict[str, Any]) -> dict[str, Any] | None:
    """The OptionNbboQuote of ``okey`` (None when it has none)."""
    flat = f"AAPL-NMS-EQT-{okey['dt']}-{okey['xx']:g}-{okey['cp'][0]}"
    nb = msgs(s.get(cmd="getmsg", msgType="OptionNbboQuote", pkey=flat), "OptionNbboQuote")
    return nb[0] if nb else None


async def collect(base: str, request: dict[str, Any], mtypes: str | tuple[str, ...], *,
                  seconds: float, limit: int = 1_000_000, recv_timeout: float = 5.0,
                  key: str = API_KEY, stop: Callable[[dict[str, Any]], bool] | None = None
                  ) -> list[dict[str, Any]]:
    """Send ``request`` (an MLink envelope) on ``/mlink/json`` and collect the ``message`` of
    every record of ``mtypes`` for up to ``seconds`` (or ``limit`` records, or until
    ``stop(message)`` is true, or ``recv_timeout`` without a frame)."""
    names = (mtypes,) if isinstance(mtypes, str) else mtypes
    out: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as sess, sess.ws_connect(
            base.replace("http", "ws") + "/mlink/json",
            headers={"Authorization": f"Bearer {key}"}) as ws:
        await ws.send_str(json.dumps(request))
        end = time.time() + seconds
        while time.time() < end and len(out) < limit:
            try:
                m = await ws.receive(timeout=recv_timeout)
            except TimeoutError:
                break
            if m.type != aiohttp.WSMsgType.TEXT:
                break
            d = json.loads(m.data)
            for env in d if isinstance(d, list) else [d]:
                if env.get("header", {}).get("mTyp") in names:
                    out.append(env["message"])
                    if stop is not None and stop(env["message"]):
                        return out
    return out


def listed_option_with_nbbo(s: Server, cp: str, *, price: str = "oAsk", timeout: float = 120.0
                            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """``listed_option`` and its OptionNbboQuote once that quote has an ask."""
    def find() -> tuple[dict[str, Any], dict[str, Any]] | None:
        okey = listed_option(s, cp, price=price, timeout=timeout)
        nb = nbbo_of(s, okey)
        return (okey, nb) if nb and nb.get("askPrice", 0) > 0 else None
    found = wait_for(find, timeout, every=0.3)
    if not found:
        raise AssertionError(f"no AAPL {cp} with a quote within {timeout:g} s")
    return found


#: a quick server: four underliers, no analytics, no SQL endpoint
LITE = ("--universe", "small", "--seed", "7", "--no-analytics", "--no-sql")


class Served:
    """An ``openmlink serve`` process started by ``serve_on``; its output goes to ``log``."""

    def __init__(self, port: int, proc: subprocess.Popen[bytes], log: str) -> None:
        self.port = port
        self.proc = proc
        self.log = log
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        end_process(self.proc, 15)

    def output(self) -> str:
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()


def serve_on(*args: str, port: int | None = None, data_dir: str | None = None,
             timeout: float = 120.0, market: bool = True) -> Served:
    """Start ``openmlink serve --api-key API_KEY ARGS`` on ``port`` (a free one when None) and
    wait until REST answers and, with ``market``, until the market source's first state is
    all in the tables (``wait_market``)."""
    port = port or free_port()
    data_dir = data_dir or tempfile.mkdtemp(prefix="openmlink-client-test-")
    url = f"http://127.0.0.1:{port}"
    t0 = time.time()
    proc, log = launch_serve(url, ["--port", str(port), "--api-key", API_KEY, "--data-dir", data_dir,
                                   *args], timeout)
    s = Served(port, proc, log)
    deadline = t0 + timeout
    if market and "--no-market" not in args:
        try:
            wait_market(s.url, timeout=max(1.0, deadline - time.time()))
        except AssertionError:
            s.stop()
            raise
    return s


def market_loaded(url: str) -> bool:
    """Whether the simulator's first state is all in the tables: it publishes its definitions,
    then its stock quotes, then every series' OptionNbboQuote in chunks (yielding to the loop
    between them, so REST answers meanwhile); loaded when the OptionNbboQuote count is the sum
    of the TickerDefinitions' ``numOptions``."""
    def get(**params: object) -> list[dict]:
        r = requests.get(f"{url}/rest/json", params={"apiKey": API_KEY, **params}, timeout=30)
        return r.json()  # type: ignore[no-any-return]
    defs = msgs(get(cmd="getmsgs", msgType="TickerDefinition", view="numOptions", limit=100000),
                "TickerDefinition")
    want = sum(int(d.get("numOptions", 0)) for d in defs)
    counts = msgs(get(cmd="getcount", msgType="OptionNbboQuote"), "MLinkCount")
    have = int(counts[0].get("count", -1)) if counts else -1
    return want > 0 and have == want


def wait_market(url: str, timeout: float = 120.0) -> None:
    """Wait until ``market_loaded(url)``; raises when it is not within ``timeout`` seconds."""
    if not wait_for(lambda: market_loaded(url), timeout, every=0.2):
        raise AssertionError(f"the market source's first state was not all in the tables of "
                             f"{url} within {timeout:g} s")
