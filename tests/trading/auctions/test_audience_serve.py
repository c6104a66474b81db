"""A client firm sees only the auctions its visibility allows (issue 13), through a real
``openmlink serve`` and its sockets, with firm-bound keys: an auction directed to firm INCL
(DirectedCounterParty Include) is seen by INCL and by the initiator's firm, never by EXCL --
on REST getmsgs/getcount, on an MLinkStream opened *before* the auction started, on
MLinkSubscribe by noticeNumber and in SQL -- while an auction open to all is seen by every
firm; a key with no client firm sees both.  The same through a gateway-only process of a
NATS platform, the auction engine in another process (issue 17: the audience crosses)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import mysql.connector
import pytest
import requests

from tests.conftest import API_KEY, Server, free_port, start_server, stop_server
from tests.support.nats import NatsServer, nats_server_binary
from tests.support.serve import collect, msgs, wait_for

KEYS = """
[[key]]
key = "INIT-0000-0000-0001"
userName = "ivy"
clientFirm = "INITFIRM"

[[key]]
key = "INCL-0000-0000-0001"
userName = "ian"
clientFirm = "INCLFIRM"

[[key]]
key = "EXCL-0000-0000-0001"
userName = "eve"
clientFirm = "EXCLFIRM"
"""
INIT, INCL, EXCL = "INIT-0000-0000-0001", "INCL-0000-0000-0001", "EXCL-0000-0000-0001"
USERS = {INIT: "ivy", INCL: "ian", EXCL: "eve", API_KEY: "dev"}
TYPES = ("AuctionNotice", "AuctionState")


def _get(s: Server, key: str, **params: Any) -> list[dict]:
    return requests.get(s.rest, params=params, headers={"Authorization": f"Bearer {key}"},
                        timeout=30).json()


def _option(s: Server) -> tuple[dict[str, Any], float]:
    """A listed series with a two-sided NBBO, and a seller's limit at its bid (at mid or
    better, inside the collar)."""
    def find() -> tuple[dict[str, Any], float] | None:
        qs = msgs(s.get(cmd="getmsgs", msgType="OptionNbboQuote", view="bidPrice|askPrice",
                        where="bidPrice:cb:1$20 & askPrice:gt:0", limit=50), "OptionNbboQuote")
        qs = [q for q in qs if 0 < q["askPrice"] - q["bidPrice"] < 1.0]
        return (qs[0]["pkey"]["okey"], float(qs[0]["bidPrice"])) if qs else None
    found = wait_for(find, 60)
    assert found, "no option quote within 60 s"
    return found


def _order(okey: dict[str, Any], limit: float, **extra: Any) -> dict[str, Any]:
    return {"header": {"mTyp": "SpdrParentOrder"}, "message": {
        "spdrActionType": "AddReplace", "parentShape": "Single", "secKey": okey,
        "secType": "Option", "accnt": "I.ACCNT", "groupingCode": "0000-0000-0000-0019",
        "orderSide": "Sell", "orderSize": 10, "progressRule": "None",
        "atsVisibility": "SidePrice", "activeDuration": 120,
        "parentOrderHandling": "BlockAuction", "orderLimitType": "Prc",
        "takeReachRule": "UpToQty", "orderPrcLimit": limit, "includeSRNetwork": "Include",
        **extra}}


def _notice(s: Server, parent: str) -> str:
    def find() -> str | None:
        st = msgs(_get(s, INIT, cmd="getmsgs", msgType="SpdrParentBrkrState",
                       where=f"parentNumber:eq:{parent}"), "SpdrParentBrkrState")
        n = st[0].get("noticeNumber") if st else None
        return str(n) if n and str(n).strip("0-") else None
    n = wait_for(find, 30, every=0.2)
    assert n, f"no noticeNumber for parent {parent}"
    return n


async def _stream(base: str, key: str, seen: dict[str, set[str]], ready: asyncio.Event,
                  stop: asyncio.Event) -> None:
    """Stream AuctionNotice and AuctionState (no where clause) as ``key``; collect the
    noticeNumbers of every record delivered."""
    async with aiohttp.ClientSession() as sess, sess.ws_connect(
            base.replace("http", "ws") + "/mlink/json",
            headers={"Authorization": f"Bearer {key}"}) as ws:
        for i, name in enumerate(TYPES):
            await ws.send_str(json.dumps({"header": {"mTyp": "MLinkStream"}, "message": {
                "queryLabel": name, "sessionID": i + 1, "activeLatency": 1, "msgName": name}}))
        complete = 0
        while not stop.is_set():
            try:
                m = await ws.receive(timeout=0.5)
            except TimeoutError:
                continue
            if m.type != aiohttp.WSMsgType.TEXT:
                break
            d = json.loads(m.data)
            for env in d if isinstance(d, list) else [d]:
                typ, body = env["header"]["mTyp"], env["message"]
                if typ in TYPES:
                    seen[typ].add(str(body["pkey"]["noticeNumber"]))
                elif typ == "MLinkStreamCheckPt" and body.get("state") == "Complete":
                    complete += 1
                    if complete == len(TYPES):
                        ready.set()


def _subscribe(base: str, key: str, notices: list[str], seconds: float) -> set[str]:
    """The noticeNumbers of the auction records an MLinkSubscribe by noticeNumber delivers to
    ``key`` within ``seconds`` (its ack must say it succeeded)."""
    request = {"header": {"mTyp": "MLinkSubscribe"}, "message": {
        "activeLatency": 1, "Subscribe": [{"msgName": t, "msgPKey": str(n)}
                                          for t in TYPES for n in notices]}}
    got = asyncio.run(collect(base, request, (*TYPES, "MLinkSubscribeAck"), seconds=seconds,
                              recv_timeout=seconds, key=key))
    acks = [m for m in got if "succeeded" in m]
    assert acks and all(a["succeeded"] == "Yes" for a in acks), acks
    return {str(m["pkey"]["noticeNumber"]) for m in got if "succeeded" not in m}


def _sql(port: int, key: str) -> dict[str, set[str]]:
    cnx = mysql.connector.connect(host="127.0.0.1", port=port, user=USERS[key], password=key)
    try:
        cur = cnx.cursor()
        out = {}
        for typ, table in (("AuctionNotice", "srtrade.msgauctionnotice"),
                           ("AuctionState", "srmlink.msgauctionstate")):
            cur.execute(f"select noticeNumber from {table}")
            out[typ] = {str(r[0]) for r in cur.fetchall()}
        cur.close()
        return out
    finally:
        cnx.close()


@pytest.fixture(scope="module", params=["one process", "nats gateway"])
def served(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    """One ``openmlink serve``; or (issue 17) the auction engine in one process and the reads,
    posts and SQL through a gateway-only process on a NATS bus: the audience reaches it."""
    kf = tmp_path_factory.mktemp("keys") / "keys.toml"
    kf.write_text(KEYS)
    port = free_port()
    common = ("--universe", "small", "--seed", "7", "--no-analytics", "--sim-responders", "0",
              "--keys-file", str(kf))
    if request.param == "one process":
        s = start_server(*common, "--sql-port", str(port))
        yield s, port, []
        stop_server(s)
        return
    if nats_server_binary() is None:
        pytest.skip("nats-server not installed (the nats extra)")
    nats = NatsServer(tmp_path_factory.mktemp("jetstream"))
    procs: list[Server] = []
    try:
        bus = ("--bus", nats.url)
        procs.append(start_server(*common, *bus, "--role", "all", "--no-sql", "--no-persist"))
        procs.append(gw := start_server(*common, *bus, "--role", "gateway", "--no-persist",
                                        "--sql-port", str(port)))
        yield gw, port, procs[:1]  # and the process running the auctions (lease holder)
    finally:
        for p in procs:
            stop_server(p)
        nats.stop()


def test_a_directed_auction_is_seen_by_its_audience_only_on_every_read_path(served) -> None:
    s, port, others = served
    okey, limit = _option(s)

    async def run() -> tuple[dict[str, dict[str, set[str]]], str, str]:
        seen = {k: {t: set() for t in TYPES} for k in (INIT, INCL, EXCL, API_KEY)}
        stop = asyncio.Event()
        readies = {k: asyncio.Event() for k in seen}
        tasks = [asyncio.create_task(_stream(s.base, k, seen[k], readies[k], stop)) for k in seen]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in readies.values())), 60)
        loop = asyncio.get_running_loop()

        def post(order: dict[str, Any]) -> str:
            reply = requests.post(s.rest, params={"cmd": "postmsgs", "postaction": "I"},
                                  json=[order], headers={"Authorization": f"Bearer {INIT}"},
                                  timeout=30).json()
            ack = msgs(reply, "PostAck")[0]
            assert ack["result"] == "OK", reply
            return str(ack["pkey"])

        # the streams were opened before either auction started
        directed = await loop.run_in_executor(None, post, _order(
            okey, limit, DirectedCounterParty=[{"clientFirm": "INCLFIRM", "inclExcl": "Include"}]))
        open_all = await loop.run_in_executor(None, post, _order(okey, limit, accnt="I.OTHER"))
        nd = await loop.run_in_executor(None, _notice, s, directed)
        no = await loop.run_in_executor(None, _notice, s, open_all)
        # wait until the readers that should see both have both (a trial or two)
        deadline = time.time() + 30
        while time.time() < deadline and not all(
                {nd, no} <= seen[k][t] for k in (INIT, INCL, API_KEY) for t in TYPES):
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # and give the excluded firm's stream a full trial more
        stop.set()
        await asyncio.gather(*tasks)
        return seen, nd, no

    seen, nd, no = asyncio.run(run())
    both = {nd, no}
    for key in (INIT, INCL, API_KEY):  # the initiator's firm, the invited firm, no firm
        assert {t: seen[key][t] >= both for t in TYPES} == {t: True for t in TYPES}, (key, seen)
    assert seen[EXCL] == {t: {no} for t in TYPES}, seen[EXCL]

    # REST getmsgs (with and without a where naming the notice) and getcount
    for key, want in ((INIT, both), (INCL, both), (API_KEY, both), (EXCL, {no})):
        for t in TYPES:
            got = {str(m["pkey"]["noticeNumber"]) for m in msgs(_get(s, key, cmd="getmsgs",
                                                                       msgType=t), t)}
            assert got & both == want, (key, t, got)
            one = msgs(_get(s, key, cmd="getmsgs", msgType=t, where=f"noticeNumber:eq:{nd}"), t)
            assert len(one) == (1 if nd in want else 0), (key, t)
            cnt = _get(s, key, cmd="getcount", msgType=t, where=f"noticeNumber:eq:{nd}")
            assert cnt[0]["message"]["count"] == (1 if nd in want else 0), (key, t, cnt)
            pk = msgs(_get(s, key, cmd="getmsgs", msgType=t, pkey=str(nd)), t)
            assert len(pk) == (1 if nd in want else 0), (key, t)

    # the process running the auction engine on a NATS bus (it stood by for the trading
    # lease, then took it) answers the same
    for other in others:
        for key, want in ((INIT, both), (INCL, both), (API_KEY, both), (EXCL, {no})):
            for t in TYPES:
                got = {str(m["pkey"]["noticeNumber"])
                       for m in msgs(_get(other, key, cmd="getmsgs", msgType=t), t)}
                assert got & both == want, ("engine process", key, t, got)

    # MLinkSubscribe by noticeNumber
    for key, want in ((INCL, both), (EXCL, {no})):
        assert _subscribe(s.base, key, [nd, no], 2.5) == want, key

    # SQL (seed example 6 reads auctions with SQL): the same audience
    for key, want in ((INIT, both), (INCL, both), (API_KEY, both), (EXCL, {no})):
        assert {t: v & both for t, v in _sql(port, key).items()} == {t: want for t in TYPES}, key

    # responses follow the same rule: the excluded firm cannot respond to the directed auction
    def respond(key: str, notice: str) -> dict[str, Any]:
        body = [{"header": {"mTyp": "NoticeResponse"}, "message": {
            "noticeNumber": str(notice), "accnt": "R.ACC", "responseId": "r1", "respSide": "Buy",
            "respSize": 5, "respPrice": round(limit + 0.05, 2)}}]
        reply = requests.post(s.rest, params={"cmd": "postmsgs", "postaction": "I"}, json=body,
                              headers={"Authorization": f"Bearer {key}"}, timeout=30).json()
        return msgs(reply, "PostAck")[0]
    refused = respond(EXCL, nd)
    assert refused["result"] != "OK" and "clientFirm" in refused["detail"], refused
    assert respond(INCL, nd)["result"] == "OK"
