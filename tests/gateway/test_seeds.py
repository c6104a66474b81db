"""The REST samples of the seed schema pages, replayed unchanged (except URL and key) against a
running server. The samples are read from the pages' sample sections shipped in
tests/fixtures/seeds (checked against the seed documents themselves when ../shared is there)."""

from __future__ import annotations

import ast
import json
import re

import pytest
import requests

from openmlink.schema import registry
from tests.conftest import API_KEY
from tests.support.paths import SEEDS
from tests.support.seeds import PAGES, api_sections, page_text


def _samples(page: str) -> list[tuple[str, dict, object]]:
    """(call name, params, json payload or None) for every 'API Call' section of a page."""
    text = page_text(page)
    sections = re.split(r"\n(?=[A-Za-z ]+ API Call\n)", text)[1:]
    out = []
    for sec in sections:
        title = sec.splitlines()[0].strip()
        names: dict[str, object] = {}
        for m in re.finditer(r"^([A-Z_]+) = (.+)$", sec, re.M):
            try:
                names[m.group(1)] = ast.literal_eval(m.group(2).strip())
            except (ValueError, SyntaxError):
                pass
        block = sec[sec.index("params = {"):]
        block = block[: block.index("}")]
        params: dict[str, object] = {}
        for m in re.finditer(r'^"(\w+)":\s*([^,#\n]+)', block, re.M):
            raw = m.group(2).strip()
            params[m.group(1)] = names[raw] if raw in names else ast.literal_eval(raw)
        payload = None
        if "payload = {" in sec:
            js = sec[sec.index("payload = {") + len("payload = "): sec.index("response = ")]
            js = re.sub(r"//[^\n]*", "", js)
            payload = json.loads(js)
        out.append((title, params, payload))
    return out


@pytest.mark.parametrize("page", PAGES)
def test_shipped_copy_is_the_seed_pages_sample_sections(page):
    copy = page_text(page)
    assert api_sections(copy) == copy  # only sample sections, no comment lines
    assert len(_samples(page)) >= 5
    if (SEEDS / page).exists():  # and exactly the vendor's text where ../shared has it
        assert api_sections((SEEDS / page).read_text()) == copy


@pytest.mark.parametrize("page", PAGES)
def test_seed_page_rest_samples_get_well_formed_answers(server, page):
    samples = _samples(page)
    calls = [t for t, _, _ in samples]
    assert {"Get Schema API Call", "Get Msg API Call", "Get Msgs API Call",
            "Get Aggregate API Call", "Get Count API Call"} <= set(calls)
    for title, params, payload in samples:
        params = dict(params, apiKey=API_KEY)  # only the key (and the URL) change
        if payload is None:
            r = requests.get(server.rest, params=params, timeout=30)
        else:
            r = requests.post(server.rest, params=params, json=payload, timeout=30)
        assert r.status_code == 200, (page, title, r.text[:300])
        reply = r.json()
        qr = reply[-1]
        assert qr["header"]["mTyp"] == "QueryResult", (page, title)
        res = qr["message"]
        msg_type = params.get("msgType")
        if title == "Get Msg API Call":
            # the sample's placeholder pkey cannot be parsed: a clear error naming the pkey
            assert res["result"] == "Error" and "pkey" in res["detail"], res
            continue
        assert res["result"] == "Ok", (page, title, res)
        if title == "Get Schema API Call":
            assert reply[0]["header"]["mTyp"] == "FieldDesc"
            assert len(reply) > 10
        elif title == "Get Count API Call":
            assert [m["header"]["mTyp"] for m in reply] == ["MLinkCount", "QueryResult"]
        elif title == "Get Aggregate API Call":
            assert all(m["header"]["mTyp"] in ("AggregateCount", "AggregateNumeric", "AggregateString",
                                               "BucketRange", "QueryResult") for m in reply)
        elif title == "Get Msgs API Call":
            assert all(m["header"]["mTyp"] in (msg_type, "QueryResult") for m in reply)
        elif title == "Post Msgs API Call":
            acks = [m["message"] for m in reply if m["header"]["mTyp"] == "PostAck"]
            assert len(acks) == 1
            # the page's template holds the placeholder "enumValue" for enums: refused, named
            assert acks[0]["result"] == "ParseError"
            assert "'enumValue' is not a value of enum" in acks[0]["detail"]


def _fill_placeholders(mtype: str, payload: dict) -> dict:
    """The page's post template with its "enumValue" placeholders replaced by the first member
    of each enum (and secType by Option)."""
    mt = registry()[mtype]
    body = json.loads(json.dumps(payload))
    msg = body["message"]
    for part in (msg, msg["pkey"]):
        for k, v in part.items():
            if v == "enumValue":
                f = mt.field(k)
                part[k] = "Option" if k == "secType" else f.enum.names[0]
    return body


@pytest.mark.parametrize(("page", "mtype"), [("003_22c068a661168229.txt", "SpanRiskCalculator"),
                                              ("004_e34a2ddef7fef608.txt", "SpdrTheoExpSurface")])
def test_seed_post_template_with_real_values_is_stored_and_read_back(server, page, mtype):
    _title, params, payload = next(s for s in _samples(page) if s[2] is not None)
    body = _fill_placeholders(mtype, payload)
    reply = server.post(body, postaction=params["postaction"], postmerge=params["postmerge"])
    ack = reply[0]["message"]
    assert ack["result"] == "OK", ack
    got = server.get(cmd="getmsg", msgType=mtype, pkey=ack["pkey"])
    rec = got[0]["message"]
    assert got[0]["header"]["mTyp"] == mtype
    assert rec["pkey"] == body["message"]["pkey"]
