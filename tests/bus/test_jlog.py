"""The order manager's journal replicated through JetStream (``bus.JournalLog``), against a
real nats-server: a follower ends with exactly the holder's rows (commits cut into pieces,
deletes, a checkpoint that purges the log), a late follower replays them from the stream, a
holder that died in the middle of a commit leaves nothing of it, a former holder's messages
after a newer epoch are ignored (fencing), and a holder whose lease is not fresh refuses to
commit."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.bus import Fenced, JournalLog, NatsBus
from openmlink.bus._jlog import H_EPOCH, H_JRN, _pieces, decode_entries, encode_entries
from tests.support.nats import NatsServer, nats_server, run, until

__all__ = ["nats_server"]


async def _member(url: str, compact_bytes: int = 1 << 30) -> tuple[NatsBus, JournalLog]:
    bus = NatsBus(url, prefix="jt")
    await bus.connect()
    jlog = JournalLog(bus, "trading", compact_bytes=compact_bytes)
    await jlog.open()
    await jlog.caught_up()
    return bus, jlog


def test_a_follower_has_the_holders_rows_and_a_late_one_replays_them(
        nats_server: NatsServer) -> None:
    async def main() -> None:
        bus_a, a = await _member(nats_server.url)
        bus_b, b = await _member(nats_server.url)
        j = a.journal(epoch=5, fresh=lambda: True)
        big = bytes(range(256)) * 2000  # 512 kB: two of them need two pieces
        j.commit([("broker", "k1", b"one"), ("fill", "0001", b"f1")])
        j.commit([("broker", "k2", big), ("broker", "k3", big), ("meta", "fill_seq", b"1")])
        j.commit([("broker", "k1", b"one'")], deletes=[("fill", "0001")])
        await bus_a.flush()
        await until(lambda: b.rows == j.rows, "b follows a's commits")
        assert b.commits == 3 and b.epoch == 5
        assert dict(j.items("broker")) == {"k1": b"one'", "k2": big, "k3": big}
        assert j.count("fill") == 0
        bus_c, c = await _member(nats_server.url)  # joins later: replays the stream
        assert c.rows == j.rows
        for bus in (bus_a, bus_b, bus_c):
            await bus.close()
    run(main)


def test_a_checkpoint_purges_the_log_and_keeps_the_rows(nats_server: NatsServer) -> None:
    async def main() -> None:
        bus_a, a = await _member(nats_server.url, compact_bytes=20_000)
        j = a.journal(epoch=1, fresh=lambda: True)
        for i in range(200):  # one row rewritten 200 times: the log outgrows the rows
            j.commit([("broker", "k", str(i).encode() * 50), ("px", f"p{i % 3}", b"x")])
        await bus_a.flush()
        await until(lambda: not j._compacting, "the compaction ended")
        info = await bus_a._js.stream_info(a.stream)
        # 200 commits and a checkpoint were sent; those before the checkpoint are purged
        assert info.state.first_seq > 1 and info.state.messages < 150, info.state
        bus_b, b = await _member(nats_server.url)
        assert b.rows == j.rows and b.rows[("broker", "k")] == b"199" * 50
        for bus in (bus_a, bus_b):
            await bus.close()
    run(main)


def test_an_unfinished_commit_and_a_former_holders_late_messages_are_ignored(
        nats_server: NatsServer) -> None:
    async def main() -> None:
        bus_a, a = await _member(nats_server.url)
        old = a.journal(epoch=3, fresh=lambda: True)
        old.commit([("broker", "k", b"v1")])
        # the old holder dies after sending the first of two pieces of a commit
        body = encode_entries([(1, "broker", "k", b"half")])
        bus_a.send_durable(a.subject, body, {H_JRN: "c 99 0 2", H_EPOCH: "3"})
        # the new holder (epoch 7) takes over, then the old one (paused) sends once more
        new = a.journal(epoch=7, fresh=lambda: True)
        new.commit([("meta", "epoch", b"7")])
        new.commit([("broker", "k2", b"w")])
        old.commit([("broker", "k", b"stale")])
        await bus_a.flush()
        bus_b, b = await _member(nats_server.url)
        assert b.rows == {("broker", "k"): b"v1", ("meta", "epoch"): b"7",
                          ("broker", "k2"): b"w"}
        assert b.fenced_msgs == 1 and b.epoch == 7
        for bus in (bus_a, bus_b):
            await bus.close()
    run(main)


def test_a_holder_whose_lease_is_not_fresh_commits_nothing(nats_server: NatsServer) -> None:
    async def main() -> None:
        bus_a, a = await _member(nats_server.url)
        fresh = [True]
        j = a.journal(epoch=1, fresh=lambda: fresh[0])
        j.commit([("broker", "k", b"v1")])
        fresh[0] = False
        try:
            j.commit([("broker", "k", b"v2")])
        except Fenced:
            pass
        else:
            raise AssertionError("a commit without a fresh lease went through")
        assert j.rows == {("broker", "k"): b"v1"}
        await bus_a.flush()
        bus_b, b = await _member(nats_server.url)
        assert b.rows == {("broker", "k"): b"v1"}
        for bus in (bus_a, bus_b):
            await bus.close()
    run(main)


_entry = st.tuples(st.sampled_from([1, 2]), st.text(max_size=8), st.text(max_size=20),
                   st.binary(max_size=300))


@given(st.lists(_entry, max_size=40), st.integers(600, 3000))
@settings(max_examples=60, deadline=None)
def test_entries_round_trip_through_pieces(entries: list, max_bytes: int) -> None:
    pieces = _pieces(entries, max_bytes)
    assert all(len(p) <= max_bytes for p in pieces)
    assert [e for p in pieces for e in decode_entries(p)] == entries


_rows = st.lists(st.tuples(st.sampled_from([1, 2]), st.sampled_from(["broker", "fill"]),
                           st.sampled_from(["a", "b", "c"]), st.binary(min_size=1, max_size=120)),
                 max_size=12)


@given(st.lists(st.tuples(st.integers(1, 4), _rows, st.booleans(), st.integers(0, 3)),
                max_size=25))
@settings(max_examples=150, deadline=None)
def test_a_follower_applies_exactly_the_complete_commits_of_the_newest_epoch(
        commits: list[tuple[int, list, bool, int]]) -> None:
    """Commits by holders of any epoch, some cut short (the holder died after ``cut`` pieces),
    in any interleaving: the follower's rows are those of the complete commits whose epoch
    was the newest seen when they arrived, applied in order."""
    jlog = JournalLog(NatsBus("nats://127.0.0.1:1", prefix="jt"), "trading")
    model: dict[tuple[str, str], bytes] = {}
    newest = 0
    for ident, (epoch, entries, cut_short, cut) in enumerate(commits, 1):
        pieces = _pieces(entries, 300)
        sent = pieces[:min(cut, len(pieces) - 1)] if cut_short else pieces
        for i, body in enumerate(sent):
            jlog.apply({H_JRN: f"c {ident} {i} {len(pieces)}", H_EPOCH: str(epoch)}, body)
        if epoch < newest or not sent:  # ignored, or nothing of it arrived
            continue
        newest = epoch
        if len(sent) == len(pieces):
            for op, ns, k, body in entries:
                if op == 1:
                    model[(ns, k)] = body
                else:
                    model.pop((ns, k), None)
    assert jlog.rows == model
