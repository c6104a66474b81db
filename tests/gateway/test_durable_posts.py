"""Client posts on a NATS bus (issue 17): a PostAck ``OK`` means JetStream holds the record; a
record JetStream did not acknowledge is answered with the reason; the validators of an engine
that runs in another process check the posts a gateway receives (a refusal is the poster's
PostAck; no engine alive is a clear error, not an unchecked accept).  Real nats-server,
platforms built as ``openmlink serve --role gateway`` / ``--role engine trading`` build them."""

from __future__ import annotations

from typing import Any

import orjson

from openmlink.bus import NatsBus, subject_token
from openmlink.clock import SimClock
from openmlink.gateway import ApiKeys, Principal
from openmlink.gateway._session import Hub, MLinkSession
from openmlink.platform import Platform, build_platform
from openmlink.schema import pkey_of, pkey_text
from openmlink.trading import TradingConfig
from tests.support.nats import NatsServer, nats_server
from tests.support.nats import run as _run
from tests.support.nats import until as _until

__all__ = ["nats_server"]

KEY = "DURABLE-0000-0001"
T0 = 1_770_000_000_000_000_000


def _platform(url: str, engines: frozenset[str], **kw: Any) -> Platform:
    keys = ApiKeys()
    keys.add(Principal(KEY, user_name="alice"))
    return build_platform(keys, clock=SimClock(T0), bus=NatsBus(url), engines=engines,
                          analytics=False, **kw)


def _span(user: str, vol: float) -> dict[str, Any]:
    return {"header": {"mTyp": "SpanRiskCalculator"},
            "message": {"pkey": {"secKey": "AAPL-NMS-EQT-2026-01-16-100-C", "secType": "Option",
                                 "userName": user}, "vol": vol}}


def _order(accnt: str) -> dict[str, Any]:
    return {"header": {"mTyp": "SpdrParentOrder"},
            "message": {"secKey": {"at": "EQT", "ts": "NMS", "tk": "AAPL"}, "secType": "Stock",
                        "accnt": accnt, "orderSide": "Buy", "orderSize": 100,
                        "orderLimitType": "Prc", "limitPrice": 150.0, "orderActive": "Active"}}


async def _post(plat: Platform, *msgs: dict[str, Any]) -> list[dict[str, Any]]:
    _, out = await plat.rest.handle_async(
        "POST", [("cmd", "postmsgs"), ("postAction", "I"), ("apiKey", KEY)], {},
        orjson.dumps(list(msgs)))
    return [m["message"] for m in orjson.loads(out)[:-1]]


def _data_acks(sess: MLinkSession) -> list[dict[str, Any]]:
    docs = [orjson.loads(b) for b in sess.pull(0)]
    return [d["message"] for d in docs if d["header"]["mTyp"] == "MLinkDataAck"]


def _bus(plat: Platform) -> NatsBus:
    assert isinstance(plat.bus, NatsBus)
    return plat.bus


def test_ok_means_jetstream_holds_the_record_and_a_failed_ack_is_answered(
        nats_server: NatsServer) -> None:
    async def main() -> None:
        gw = _platform(nats_server.url, frozenset())
        bus = _bus(gw)
        await bus.connect()
        try:
            acks = await _post(gw, _span("alice", 0.25), _span("bob", 0.3))
            assert [a["result"] for a in acks] == ["OK", "OK"], acks
            # at the moment the answer was written, the stream already had both records
            for a in acks:
                subject = f"oml.r.SpanRiskCalculator.{subject_token(a['pkey'])}"
                msg = await bus._js.get_last_msg(bus.rec_stream, subject)
                assert msg.data, subject
            # a refusal by the schema checks never reaches NATS
            bad = await _post(gw, {"header": {"mTyp": "SpanRiskCalculator"}, "message": {}})
            assert bad[0]["result"] == "ParseError", bad
            # a WebSocket session's upload: its MLinkDataAck OK comes once JetStream acked it
            hub = Hub(gw.registry, gw.store, gw.keys, gw.clock, post=gw.rest.post_record)
            sess = MLinkSession(hub, Principal(KEY, user_name="alice"), None)
            woke: list[bool] = []
            sess.notify = lambda: woke.append(True)
            sess.receive(orjson.dumps(_span("erin", 0.35)), gw.clock.time_ns())
            assert not _data_acks(sess)  # not before the ack
            await _until(lambda: bool(woke), "the session woken by the JetStream ack")
            assert [a["result"] for a in _data_acks(sess)] == ["OK"]
            # JetStream no longer takes the records: the post says so, never OK
            await bus._js.delete_stream(bus.rec_stream)
            lost = await _post(gw, _span("carol", 0.4))
            assert lost[0]["result"] == "Exception", lost
            assert "not durable" in lost[0]["detail"] and "JetStream" in lost[0]["detail"], lost
            # a WebSocket upload (post_record) waits for the ack the same way
            fut = gw.rest.post_record(_span("dave", 0.5), Principal(KEY, user_name="alice"))
            assert not isinstance(fut, dict)
            ws_ack = await fut
            assert ws_ack["result"] == "Exception" and "not durable" in ws_ack["detail"], ws_ack
            # reads are answered as before
            _, out = await gw.rest.handle_async(
                "GET", [("cmd", "getcount"), ("msgType", "SpanRiskCalculator"), ("apiKey", KEY)],
                {}, b"")
            assert orjson.loads(out)[0]["message"]["count"] == 5
        finally:
            await bus.close()
    _run(main)


def test_the_engine_process_validates_what_a_gateway_receives(nats_server: NatsServer) -> None:
    async def main() -> None:
        gw = _platform(nats_server.url, frozenset())
        # the order manager's rate limit: 2 orders per key, then none (the clock is frozen)
        eng = _platform(nats_server.url, frozenset({"trading"}),
                        trading_config=TradingConfig(key_rate=1e-9, key_burst=2))
        await _bus(eng).connect()
        await _bus(gw).connect()
        try:
            assert _bus(gw).validated_elsewhere("SpdrParentOrder")
            assert not _bus(gw).validated_elsewhere("SpanRiskCalculator")
            acks = await _post(gw, _order("A1"), _order("A2"), _order("A3"))
            assert [a["result"] for a in acks] == ["OK", "OK", "OtherError"], acks
            assert "rate" in acks[2]["detail"].lower(), acks[2]
            orders = gw.store.table(gw.registry["SpdrParentOrder"])
            mt = orders.mt

            def numbers(t: Any) -> set[int]:
                return {int(t.record(int(r))["parentNumber"]) for r in t.live_rows()}
            # the refused order is stored nowhere; the accepted ones are worked by the engine
            # process, and its states come back to the gateway
            assert {pkey_text(mt, pkey_of(mt, orders.record(int(r))))
                    for r in orders.live_rows()} == {acks[0]["pkey"], acks[1]["pkey"]}
            states = gw.store.table(gw.registry["SpdrParentBrkrState"])
            assert eng.orders is not None
            await _until(lambda: len(eng.store.table(mt).live_rows()) == 2, "orders at the engine")
            eng.orders.tick()  # what the runtime's order-manager timer does
            await _until(lambda: len(states.live_rows()) >= 2, "two broker states at the gateway")
            assert numbers(states) == numbers(orders)
            eng_orders = eng.store.table(eng.registry["SpdrParentOrder"])
            assert numbers(eng_orders) == numbers(orders)
            # a WebSocket upload is checked there too
            fut = gw.rest.post_record(_order("A4"), Principal(KEY, user_name="alice"))
            assert not isinstance(fut, dict)
            assert (await fut)["result"] == "OtherError"
            # no engine process alive: the post is refused with the reason, not accepted
            await _bus(eng).close()
            gone = await _post(gw, _order("A5"))
            assert gone[0]["result"] == "OtherError", gone
            assert "no process running its engine" in gone[0]["detail"], gone
            assert len(orders.live_rows()) == 2
        finally:
            await _bus(gw).close()
            await _bus(eng).close()
    _run(main)
