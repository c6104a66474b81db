"""An MLinkStream whose ``where`` is a long ``|`` chain of ``okey:eq:`` terms (the set lookup
of ``query``): the snapshot holds exactly those keys, and updates of other keys are not sent."""

from __future__ import annotations

from tests.support.sansio import SansIO, records


def _okey(tk: str, d: int, k: int, cp: str) -> str:
    return f"{tk}-NMS-EQT-2026-{d:02d}-16-{100 + 5 * k}-{cp}"


def _key_text(o: dict) -> str:
    return f"{o['tk']}-{o['ts']}-{o['at']}-{o['dt']}-{o['xx']:g}-{o['cp'][0]}"


def test_a_stream_with_a_3000_key_chain_sends_exactly_those_keys():
    rig = SansIO()
    keys = [_okey(tk, d, k, cp) for tk in ("SPY", "QQQ") for d in range(1, 13)
            for k in range(200) for cp in "CP"]  # 9,600 options
    for i, k in enumerate(keys):
        rig.put("OptionNbboQuote", {"pkey": {"okey": k}, "bidPrice": 1.0 + i % 7})
    wanted = keys[::3][:3000]
    c = rig.client()
    c.send("MLinkStream", msgName="OptionNbboQuote", where=" | ".join(f"okey:eq:{k}" for k in wanted),
           activeLatency=1)
    out = c.pull()
    ack = records(out, "MLinkStreamAck")
    assert ack and ack[0]["result"] == "OK", ack
    got = {_key_text(m["pkey"]["okey"]) for m in records(out, "OptionNbboQuote")}
    assert got == set(wanted)
    # live updates: one key in the chain, one not
    rig.put("OptionNbboQuote", {"pkey": {"okey": wanted[7]}, "bidPrice": 42.0})
    rig.put("OptionNbboQuote", {"pkey": {"okey": keys[1]}, "bidPrice": 43.0})
    rig.advance(10)
    live = records(c.pull(), "OptionNbboQuote")
    assert [(_key_text(m["pkey"]["okey"]), m["bidPrice"]) for m in live] == [(wanted[7], 42.0)]
    c.close()
