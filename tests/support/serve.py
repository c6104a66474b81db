"""Helpers for tests against a real ``openmlink serve`` (``tests.conftest.start_server``):
reading replies, waiting for a condition, picking a listed series from the live tables and
collecting records from a WebSocket request."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp

from tests.conftest import API_KEY, Server

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
