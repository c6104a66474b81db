"""Who sees an auction (trading.md §3.1 directedCounterParty, includeSRNetwork): the rule, the
per-firm live hidden sets, the store's row rule evaluated on rows written after it was bound,
and responses following the same rule."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.query import where_mask
from openmlink.trading import AuctionConfig
from openmlink.trading.auctions import Audience, audience_rule
from tests.support.auctions import AuctionRig

FIRMS = ("A", "B", "C", "D", "")
AN, AS = "AuctionNotice", "AuctionState"


def reference_sees(parent: dict, firm: str) -> bool:
    """The rule spelled out: the initiator's firm always; an Exclude entry keeps a firm out;
    with Include entries (or includeSRNetwork Exclude) only the Include firms get in."""
    if firm and firm == parent["clientFirm"]:
        return True
    dcp = parent["DirectedCounterParty"]
    if any(d["clientFirm"] == firm and d["inclExcl"] == "Exclude" for d in dcp):
        return False
    incl = [d["clientFirm"] for d in dcp if d["inclExcl"] == "Include"]
    if incl or parent["includeSRNetwork"] == "Exclude":
        return firm in incl
    return True


parents = st.fixed_dictionaries({
    "clientFirm": st.sampled_from(FIRMS),
    "includeSRNetwork": st.sampled_from(("None", "Include", "Exclude", "Disclose")),
    "DirectedCounterParty": st.lists(st.fixed_dictionaries({
        "clientFirm": st.sampled_from(FIRMS),
        "inclExcl": st.sampled_from(("None", "Include", "Exclude", "Disclose"))}), max_size=4)})


@settings(max_examples=300, deadline=None)
@given(st.lists(parents, min_size=1, max_size=12), st.lists(st.sampled_from(FIRMS), max_size=3))
def test_hidden_sets_follow_the_rule_whether_asked_before_or_after_the_auctions_start(
        ps: list[dict], early: list[str]) -> None:
    aud = Audience()
    before = {f: aud.hidden(f) for f in early}  # readers bound before any auction started
    for n, p in enumerate(ps, start=1):
        aud.add(n, p)
    for firm in FIRMS:
        want = {n for n, p in enumerate(ps, start=1) if not reference_sees(p, firm)}
        assert set(aud.hidden(firm)) == want
        assert {n for n in range(1, len(ps) + 1) if not aud.sees(n, firm)} == want
        if firm in before:
            assert set(before[firm]) == want  # the same live set, kept up to date
    for p in ps:  # an auction without a rule is open to every firm
        if audience_rule(p) is None:
            assert all(reference_sees(p, f) for f in ("X", "Y", *FIRMS))


def rig() -> AuctionRig:
    r = AuctionRig(AuctionConfig(sim_responders=4))
    r.stock("AAPL", 199.9, 200.1)
    r.option("AAPL", 200, "Put", 4.9, 5.1, bsz=20, asz=20)
    return r


def block(r: AuctionRig, accnt: str, **fields: object) -> int:
    o = r.order(parentOrderHandling="BlockAuction", orderSide="Sell", orderPrcLimit=4.9,
                orderSize=100, takeReachRule="UpToQty", atsVisibility="SidePrice",
                activeDuration=10, accnt=accnt, clientFirm="INIT", **fields)
    return r.notice_of(o["parentNumber"])


def visible_notices(r: AuctionRig, name: str, bound: object) -> set[int]:
    t = r.store.table(r.reg[name])
    rows = t.live_rows()
    if bound is not None:
        rows = rows[where_mask(t, bound, rows)]
    return {int(t.column("noticeNumber")[i]) for i in rows}


def test_the_store_row_rule_bound_before_the_auctions_sees_them_as_they_start() -> None:
    r = rig()
    who = {f: SimpleNamespace(client_firm=f) for f in ("INIT", "GOOD", "BAD", "OTHER")}
    bounds = {f: {n: r.store.row_rule(r.reg[n], w) for n in (AN, AS)} for f, w in who.items()}
    assert r.store.row_rule(r.reg[AN], SimpleNamespace(client_firm=None)) is None  # no firm: all
    assert r.store.row_rule(r.reg["NoticeExecReport"], who["BAD"]) is None  # has clientFirm
    directed = block(r, "I.1", DirectedCounterParty=[
        {"clientFirm": "GOOD", "inclExcl": "Include"}])
    shut = block(r, "I.2", DirectedCounterParty=[{"clientFirm": "BAD", "inclExcl": "Exclude"}])
    private = block(r, "I.3", includeSRNetwork="Exclude")
    everyone = block(r, "I.4")
    r.advance(1000, 1)  # a trial: AuctionState rows too
    want = {"INIT": {directed, shut, private, everyone}, "GOOD": {directed, shut, everyone},
            "BAD": {everyone}, "OTHER": {shut, everyone}}
    for f in who:
        for n in (AN, AS):
            assert visible_notices(r, n, bounds[f][n]) == want[f], (f, n)
    # the private auction (SR network excluded, nobody included) has no simulated responders
    r.advance(9000, 9)
    sols = {s["noticeNumber"]: s["BidSolution"] for s in r.auction_states() if s["BidSolution"]}
    assert private not in sols and everyone in sols


def test_responses_follow_the_audience() -> None:
    r = rig()
    nn = block(r, "I.1", DirectedCounterParty=[{"clientFirm": "GOOD", "inclExcl": "Include"}],
               includeSRNetwork="Exclude")
    assert "not invited" in (r.respond(nn, firm="OTHER", accnt="R.O") or "")
    assert r.respond(nn, firm="GOOD", accnt="R.G") is None
    # (inferred) another account of the initiator's own firm may respond; its own account not
    assert r.respond(nn, firm="INIT", accnt="I.9") is None
    assert "own auction" in (r.respond(nn, firm="INIT", accnt="I.1") or "")


def test_a_process_without_the_auction_engine_shows_firms_no_auctions() -> None:
    """(inferred) Fail closed: where the audience is unknown, a firm-bound reader sees no
    auction records; a reader with no firm sees them all."""
    from openmlink.bus import Event
    from openmlink.gateway import ApiKeys
    from openmlink.platform import build_platform

    plat = build_platform(ApiKeys(), analytics=False, engines=frozenset({"calc"}))
    mt = plat.registry[AN]
    plat.bus.publish(Event(mt, "upsert", {"noticeNumber": 7}, plat.clock.time_ns()))
    t = plat.store.table(mt)
    firm = plat.store.row_rule(mt, SimpleNamespace(client_firm="ACME"))
    assert len(t.live_rows()) == 1 and not where_mask(t, firm, t.live_rows()).any()
    assert plat.store.row_rule(mt, SimpleNamespace(client_firm=None)) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(parents, min_size=1, max_size=12), st.lists(st.sampled_from(FIRMS), max_size=3))
def test_a_remote_audience_fed_the_engines_rules_hides_what_the_engine_hides(
        ps: list[dict], early: list[str]) -> None:
    """What another process learns (each rule as JSON, ``Audience.on_add``) gives the same
    per-firm visibility as the engine's own audience; a notice whose rule has not arrived is
    hidden from every firm-bound reader (fail closed)."""
    from openmlink.bus import Event, InProcessBus
    from openmlink.schema import registry
    from openmlink.store import Store
    from openmlink.trading.auctions import RemoteAudience, rule_from_json, rule_to_json

    reg = registry()
    engine, remote = Audience(), RemoteAudience()
    sent: list[tuple[int, bytes]] = []
    engine.on_add = lambda n, rule: sent.append((n, rule_to_json(rule)))
    store, bus = Store(reg), InProcessBus()
    store.attach(bus)
    remote.register(store)
    mt = reg[AN]
    bounds = {f: store.row_rule(mt, SimpleNamespace(client_firm=f)) for f in early}
    for n, p in enumerate(ps, start=1):
        engine.add(n, p)
        bus.publish(Event(mt, "upsert", {"noticeNumber": n}, n))
    t = store.table(mt)
    unknown = {f: where_mask(t, store.row_rule(mt, SimpleNamespace(client_firm=f)),
                             t.live_rows()).any() for f in FIRMS}
    assert not any(unknown.values())  # nothing arrived yet: no firm sees any auction
    for n, data in sent:
        remote.add_rule(n, rule_from_json(data))
    for firm in FIRMS:
        want = {n for n in range(1, len(ps) + 1) if engine.sees(n, firm)}
        bound = store.row_rule(mt, SimpleNamespace(client_firm=firm))
        assert visible(t, bound) == want
        if firm in bounds:
            assert visible(t, bounds[firm]) == want  # bound before the rules arrived
    assert store.row_rule(mt, SimpleNamespace(client_firm=None)) is None


def visible(t: object, bound: object) -> set[int]:
    rows = t.live_rows()  # type: ignore[attr-defined]
    rows = rows[where_mask(t, bound, rows)]
    return {int(t.column("noticeNumber")[i]) for i in rows}  # type: ignore[attr-defined]


def test_an_unreadable_audience_is_refused_naming_it() -> None:
    import pytest

    from openmlink.trading.auctions import rule_from_json
    with pytest.raises(ValueError, match="unreadable auction audience"):
        rule_from_json(b'{"initiator": "A"}')
