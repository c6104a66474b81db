"""Short runs of the seeded REST and WebSocket fuzzers (``tests/support/fuzzcases.py``; the
100,000-case runs are ``bench/fuzz.py``), plain and framed JSON (/rest/jsonf, /mlink/jsonf):
no exception escapes, every answer is in protocol form (framed answers with the right message
number and length in every header), and no refused request changes stored data."""

from __future__ import annotations

import pytest

from tests.support.fuzzcases import fuzz_platform, run_rest, run_rest_framed, run_ws, run_ws_framed

PLAT = fuzz_platform()


@pytest.mark.parametrize("seed", [1, 2])
def test_seeded_rest_fuzz_finds_nothing(seed):
    f = run_rest(seed, 1500, PLAT)
    assert f.cases == 1500
    assert f.clean, (f.crashes, f.non_protocol, f.data_changes)


@pytest.mark.parametrize("seed", [1, 2])
def test_seeded_websocket_fuzz_finds_nothing(seed):
    f = run_ws(seed, 600, PLAT)
    assert f.cases == 600
    assert f.clean, (f.crashes, f.non_protocol, f.data_changes)


@pytest.mark.parametrize("seed", [1, 2])
def test_seeded_rest_jsonf_fuzz_finds_nothing(seed):
    f = run_rest_framed(seed, 1500, PLAT)
    assert f.cases == 1500
    assert f.clean, (f.crashes, f.non_protocol, f.data_changes)


@pytest.mark.parametrize("seed", [1, 2])
def test_seeded_websocket_jsonf_fuzz_finds_nothing(seed):
    f = run_ws_framed(seed, 400, PLAT)
    assert f.cases == 400
    assert f.clean, (f.crashes, f.non_protocol, f.data_changes)
