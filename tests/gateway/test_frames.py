"""Framing helpers (spec 1.3): framed-JSON headers parsed back to the same messages, frames
grouped under the cap on message boundaries, WebSocket headers decoded by a real parser."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmlink.gateway._frames import (
    JSONF_HEADER,
    FrameError,
    control,
    jsonf_header,
    jsonf_messages,
    jsonf_ws_frames,
    ws_header,
)

payloads = st.lists(st.tuples(st.integers(0, 99_999), st.binary(max_size=300)), max_size=20)


@given(payloads)
def test_framed_messages_parse_back(msgs: list[tuple[int, bytes]]) -> None:
    data = b"".join(jsonf_header(n, len(p)) + p for n, p in msgs)
    assert list(jsonf_messages(data)) == msgs


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_frame_error(data: bytes) -> None:
    try:
        for num, body in jsonf_messages(data):
            assert 0 <= num <= 99_999 and isinstance(body, bytes)
    except FrameError as e:
        assert str(e).startswith("byte ")


@given(payloads, st.integers(1, 2000))
def test_ws_frames_keep_message_boundaries_under_the_cap(msgs: list[tuple[int, bytes]], cap: int) -> None:
    units = np.empty(len(msgs), object)
    units[:] = [jsonf_header(n, len(p)) + p for n, p in msgs]
    sizes = np.array([len(u) for u in units], np.int64)
    frames = jsonf_ws_frames(units, sizes, cap)
    got: list[tuple[int, bytes]] = []
    for f in frames:
        assert f[0] == 0x82  # FIN + binary
        n = f[1]
        off = 2
        if n == 126:
            n, off = int.from_bytes(f[2:4], "big"), 4
        elif n == 127:
            n, off = int.from_bytes(f[2:10], "big"), 10
        body = f[off:]
        assert len(body) == n
        parsed = list(jsonf_messages(body))
        assert parsed  # no empty frame
        assert n <= cap or len(parsed) == 1  # over the cap only for a single big message
        got.extend(parsed)
    assert got == msgs


@pytest.mark.parametrize("n", [0, 125, 126, 65535, 65536, 1 << 20])
def test_ws_header_lengths(n: int) -> None:
    h = ws_header(n, False)
    assert h[0] == 0x81
    if n < 126:
        assert h[1] == n and len(h) == 2
    elif n < 65536:
        assert h[1] == 126 and int.from_bytes(h[2:], "big") == n
    else:
        assert h[1] == 127 and int.from_bytes(h[2:], "big") == n


def test_header_bounds() -> None:
    assert jsonf_header(2785, 101) == b"\r\nJ02785000101"
    assert len(jsonf_header(0, 0)) == JSONF_HEADER
    with pytest.raises(ValueError):
        jsonf_header(1, 1_000_000)
    with pytest.raises(ValueError):
        jsonf_header(100_000, 1)


def test_control_records_hold_no_more_heap_than_their_bytes() -> None:
    """A control record can wait in the outbox of a client that does not read: it must not
    keep the 4 KiB buffer orjson (3.12 on) wrote it in (``fitted``; measured 4,120 bytes of
    C heap per 89-byte heartbeat before)."""
    from openmlink.gcpolicy import heap_info

    if heap_info() is None:
        pytest.skip("glibc's mallinfo2 is not available")
    n = 2000
    before = heap_info()["in_use"]  # type: ignore[index]
    kept = [control("MLinkHeartbeat", {"seqNum": i, "timestamp": "2026-12-01T01:02:03.123456Z"})
            for i in range(n)]
    grown = heap_info()["in_use"] - before  # type: ignore[index]
    assert all(len(b) < 120 for b in kept)
    assert grown / n < 512, f"{grown / n:.0f} bytes of C heap per {len(kept[0])}-byte record"
