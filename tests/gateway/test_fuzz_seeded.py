"""Short runs of the seeded REST and WebSocket fuzzers (``tests/support/fuzzcases.py``; the
100,000-case runs are ``bench/fuzz.py``), plain and framed JSON (/rest/jsonf, /mlink/jsonf):
no exception escapes, every answer is in protocol form (framed answers with the right message
number and length in every header), and no refused request changes stored data."""

from __future__ import annotations

import pytest

from tests.support.fuzzcases import fuzz_platform, run_rest, run_rest_framed, run_ws, run_ws_framed

PLAT = fuzz_platform()
#: (runner, cases a run): REST and WebSocket, plain and framed JSON
RUNS = {"rest": (run_rest, 1500), "websocket": (run_ws, 600),
        "rest_jsonf": (run_rest_framed, 1500), "websocket_jsonf": (run_ws_framed, 400)}


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("kind", list(RUNS))
def test_seeded_fuzz_finds_nothing(kind, seed):
    run, cases = RUNS[kind]
    f = run(seed, cases, PLAT)
    assert f.cases == cases
    assert f.clean, (f.crashes, f.non_protocol, f.data_changes)
