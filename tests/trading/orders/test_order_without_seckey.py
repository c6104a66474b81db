"""An SpdrParentOrder posted with no fields at all (found by the REST fuzzer: the order manager
failed building its records, 'NoneType' has no attribute 'at', and the post was acked
Exception) is stored and rejected with a reason, like any other invalid order."""

from __future__ import annotations

import orjson

from tests.support.fuzzcases import KEY, fuzz_platform


def test_an_empty_parent_order_is_rejected_with_a_reason():
    plat = fuzz_platform()
    _, out = plat.rest.handle("POST", [("cmd", "postmsgs"), ("postAction", "I"), ("apiKey", KEY)], {},
                              orjson.dumps({"header": {"mTyp": "SpdrParentOrder"}, "message": {}}))
    ack = orjson.loads(out)[0]["message"]
    assert ack["result"] == "OK", ack
    _, out = plat.rest.handle("GET", [("cmd", "getmsgs"), ("msgType", "SpdrParentBrkrState"),
                                      ("apiKey", KEY)], {}, b"")
    states = [m["message"] for m in orjson.loads(out)[:-1]]
    assert [(s["parentNumber"], s["spdrOrderStatus"]) for s in states] == [(ack["pkey"], "Rejected")]
    assert states[0]["spdrRejectReason"] and states[0]["spdrComment"]
